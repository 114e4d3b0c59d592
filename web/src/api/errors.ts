// How a failed call is told to a person: the gateway's message, with the status code's meaning when it is terse.

import { Code, ConnectError } from "@connectrpc/connect";

const HINTS: Partial<Record<Code, string>> = {
  [Code.Unauthenticated]: "You are not signed in, or your session ended.",
  [Code.PermissionDenied]: "Your role does not allow this.",
  [Code.ResourceExhausted]: "Too many requests; wait a moment and try again.",
  [Code.Unavailable]: "The platform cannot be reached. Check your connection and try again.",
  [Code.DeadlineExceeded]: "The platform took too long to answer.",
};

/** Messages that say nothing a person can use (fetch failures). */
const GENERIC = new Set(["Failed to fetch", "fetch failed", "Load failed", "NetworkError when attempting to fetch resource."]);

/** A sentence for a person about `error`. */
export function describeError(error: unknown): string {
  if (error instanceof Error && error.name === "AbortError") return "Cancelled.";
  const e = ConnectError.from(error);
  const message = e.rawMessage.trim();
  const hint = HINTS[e.code];
  if (!message || GENERIC.has(message)) return hint ?? `The call failed (${Code[e.code]}).`;
  return message;
}

/** True for the errors a person can do nothing about but sign in again. */
export function isSessionError(error: unknown): boolean {
  return ConnectError.from(error).code === Code.Unauthenticated;
}
