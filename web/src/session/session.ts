// The signed-in session: who holds which token, and when it is rotated.
//
// - The access token lives in this object only (memory): a reload loses it, and nothing else on the page can read
//   it from storage.
// - The refresh token lives in `sessionStorage`: it survives a reload of this tab, is not shared with other tabs, and
//   is gone when the tab closes. Never `localStorage`.
// - Refresh tokens are single-use and a reused one revokes the whole session, so every rotation goes through one
//   in-flight promise (`refresh`): two callers that need a fresh token at once share one Refresh call.
// - Rotation is quiet: a timer refreshes shortly before `expires_in` runs out, a call about to be sent with an
//   almost-expired token refreshes first, and a call refused with UNAUTHENTICATED refreshes once and is retried
//   (`api/transport.ts`). A refresh the gateway refuses (expired, revoked, reused) ends the session: the console
//   goes back to sign-in.

import { Code, ConnectError } from "@connectrpc/connect";
import { newLease, type TabPeers } from "./tabs";

/** The part of the generated `AuthService` client the session uses (so tests can pass a fake). */
export interface AuthApi {
  login(request: { tenant: string; email: string; password: string }): Promise<TokenGrant>;
  refresh(request: { refreshToken: string }): Promise<TokenGrant>;
  logout(request: { refreshToken: string }): Promise<unknown>;
}

/** What Login and Refresh return. */
export interface TokenGrant {
  accessToken: string;
  refreshToken: string;
  /** Seconds the access token is valid for. */
  expiresIn: number;
}

/** Timers and the clock, injectable for tests. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Why the session ended, for the sign-in screen. */
export type EndReason = "signed-out" | "expired" | "no-session" | "copied-tab";

export type SessionState =
  | { status: "signed-out"; reason: EndReason }
  | {
      status: "signed-in";
      accessToken: string;
      expiresAt: number;
      /** After this, a call refreshes before it is sent (the timer should have by then). */
      staleAt: number;
    };

/** Where the refresh token is kept in `sessionStorage`. */
export const REFRESH_KEY = "switchboard.refresh";
/** This tab's lease on that token (see tabs.ts). */
export const LEASE_KEY = "switchboard.lease";

/**
 * A call about to be sent with a token expiring within this many milliseconds (or a quarter of its lifetime, if
 * shorter) refreshes first.
 */
const EXPIRY_MARGIN_MS = 30_000;

/** After a refresh that failed for a reason other than a refusal (network), try again after this long. */
const RETRY_AFTER_MS = 10_000;

/**
 * When to rotate a token valid for `expiresIn` seconds: a minute before it expires, but never later than halfway
 * through its life (short-lived tokens in tests).
 */
export function refreshDelayMs(expiresIn: number): number {
  const seconds = Math.max(expiresIn - 60, expiresIn / 2);
  return Math.max(1_000, Math.floor(seconds * 1000));
}

/** Whether an error from Refresh means the refresh token is dead (as opposed to a network failure). */
function isRefusal(error: unknown): boolean {
  const code = ConnectError.from(error).code;
  return code === Code.Unauthenticated || code === Code.InvalidArgument || code === Code.PermissionDenied;
}

export class Session {
  private state: SessionState = { status: "signed-out", reason: "no-session" };
  private inFlight: Promise<string> | undefined;
  private restoring: Promise<boolean> | undefined;
  /** This page's lease on the stored refresh token: one per page load, kept across rotations (tabs.ts). */
  private readonly lease = newLease();
  private timer: unknown;
  private readonly listeners = new Set<(state: SessionState) => void>();

  constructor(
    private readonly auth: AuthApi,
    private readonly storage: Pick<Storage, "getItem" | "setItem" | "removeItem">,
    private readonly clock: Clock = {
      now: () => Date.now(),
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
    },
    /** Other tabs of the console, to tell a duplicated tab from a reloaded one (tabs.ts). */
    private readonly peers?: TabPeers,
  ) {}

  /** The current state. */
  current(): SessionState {
    return this.state;
  }

  /** Calls `listener` on every change of state; returns the unsubscribe function. */
  subscribe(listener: (state: SessionState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Whether this tab holds a refresh token from before a reload. */
  hasStoredSession(): boolean {
    return Boolean(this.storage.getItem(REFRESH_KEY));
  }

  async signIn(tenant: string, email: string, password: string): Promise<void> {
    const grant = await this.auth.login({ tenant, email, password });
    this.accept(grant);
  }

  /**
   * Picks up the session this tab had before a reload, from the stored refresh token. Resolves to false when there
   * is none or the gateway refuses it; network failures reject.
   */
  restore(): Promise<boolean> {
    if (!this.hasStoredSession()) return Promise.resolve(false);
    this.restoring ??= this.claimStoredSession()
      .then((mine) => {
        if (mine) return this.refresh();
        // A copy of another live tab's session: using it would revoke that tab's session. Start afresh here.
        this.end("copied-tab");
        throw new ConnectError("this tab was copied from another one", Code.Unauthenticated);
      })
      .then(
        () => true,
        (error: unknown) => {
          if (ConnectError.from(error).code === Code.Unauthenticated) return false;
          throw error;
        },
      )
      .finally(() => {
        this.restoring = undefined;
      });
    return this.restoring;
  }

  /** Whether the stored refresh token is this tab's (not a copy another live tab still uses). */
  private async claimStoredSession(): Promise<boolean> {
    const lease = this.storage.getItem(LEASE_KEY);
    if (!this.peers || !lease) return true;
    return !(await this.peers.heldElsewhere(lease));
  }

  /**
   * The access token to send now, rotated first if it is about to expire. Undefined when signed out.
   */
  async accessToken(): Promise<string | undefined> {
    const state = this.state;
    if (state.status !== "signed-in") return this.inFlight;
    if (this.clock.now() < state.staleAt) return state.accessToken;
    return this.refresh();
  }

  /**
   * Rotates the tokens, sharing one Refresh call between concurrent callers. With `replacing`, only rotates if the
   * current access token is still that one (a call refused with an older token does not rotate a second time).
   * A refusal ends the session and rejects with UNAUTHENTICATED.
   */
  refresh(replacing?: string): Promise<string> {
    if (this.inFlight) return this.inFlight;
    const state = this.state;
    if (replacing !== undefined && state.status === "signed-in" && state.accessToken !== replacing) {
      return Promise.resolve(state.accessToken);
    }
    const refreshToken = this.storage.getItem(REFRESH_KEY);
    if (!refreshToken) {
      this.end("no-session");
      return Promise.reject(new ConnectError("not signed in", Code.Unauthenticated));
    }
    const call = this.auth.refresh({ refreshToken }).then(
      (grant) => this.accept(grant),
      (error: unknown) => {
        if (isRefusal(error)) {
          this.end("expired");
          throw new ConnectError("your session has ended; sign in again", Code.Unauthenticated);
        }
        // Network trouble: keep the refresh token and try again a little later.
        this.schedule(RETRY_AFTER_MS);
        throw error;
      },
    );
    this.inFlight = call.finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Ends the session at the gateway (revoking the refresh token's family) and here. */
  async signOut(): Promise<void> {
    const refreshToken = this.storage.getItem(REFRESH_KEY);
    this.end("signed-out");
    if (refreshToken) {
      // The session is over here whatever the gateway answers; an unreachable gateway leaves the refresh token to
      // expire on its own.
      await this.auth.logout({ refreshToken }).catch(() => undefined);
    }
  }

  /** Forgets the session without telling the gateway (it already ended, or the tab is handing it over). */
  end(reason: EndReason): void {
    this.storage.removeItem(REFRESH_KEY);
    this.storage.removeItem(LEASE_KEY);
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.set({ status: "signed-out", reason });
  }

  private accept(grant: TokenGrant): string {
    this.storage.setItem(REFRESH_KEY, grant.refreshToken);
    if (this.peers) {
      this.storage.setItem(LEASE_KEY, this.lease);
      this.peers.hold(this.lease);
    }
    const now = this.clock.now();
    const lifetime = grant.expiresIn * 1000;
    this.set({
      status: "signed-in",
      accessToken: grant.accessToken,
      expiresAt: now + lifetime,
      staleAt: now + lifetime - Math.min(EXPIRY_MARGIN_MS, lifetime / 4),
    });
    this.schedule(refreshDelayMs(grant.expiresIn));
    return grant.accessToken;
  }

  private schedule(ms: number): void {
    this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      // Failures are handled inside refresh (a refusal signs out, a network error reschedules).
      this.refresh().catch(() => undefined);
    }, ms);
  }

  private set(state: SessionState): void {
    this.state = state;
    for (const listener of this.listeners) listener(state);
  }
}
