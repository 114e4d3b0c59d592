// Follows a run over Ask's server stream and keeps its view (runState.ts) up to date.
//
// The run belongs to the server, not to the stream: when the stream breaks before `run_finished` (network, a
// restart of the gateway, a laptop waking up), the hook re-attaches with `run` and `after_sequence` set to the last
// event it applied, backing off from half a second to ten. A refusal of the request itself (INVALID_ARGUMENT,
// PERMISSION_DENIED, RESOURCE_EXHAUSTED before the run started) is shown and not retried.

import { Code, ConnectError } from "@connectrpc/connect";
import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import type { Api } from "../api/clients";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { AskRequestSchema, AskResponse } from "../gen/switchboard/orchestrator/v1/orchestrator_pb";
import type { StepStatus } from "../gen/switchboard/orchestrator/v1/orchestrator_pb";
import { emptyRun, reduce, reviewed, type RunView } from "./runState";

type AskInit = MessageInitShape<typeof AskRequestSchema>;

export type Link = "idle" | "streaming" | "reconnecting" | "finished" | "failed";

type Action =
  | { type: "event"; event: AskResponse }
  | { type: "reset"; view: RunView }
  | { type: "reviewed"; stepId: string; status: StepStatus };

function reducer(view: RunView, action: Action): RunView {
  switch (action.type) {
    case "event":
      return reduce(view, action.event);
    case "reset":
      return action.view;
    case "reviewed":
      return reviewed(view, action.stepId, action.status);
  }
}

/** Codes that mean "this request will not work however often it is sent". */
const FINAL = new Set([
  Code.InvalidArgument,
  Code.PermissionDenied,
  Code.NotFound,
  Code.Unauthenticated,
  Code.FailedPrecondition,
  Code.ResourceExhausted,
]);

/** Delay before the n-th re-attach (1-based). */
export function backoffMs(attempt: number): number {
  return Math.min(10_000, 500 * 2 ** (attempt - 1));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export interface RunFollower {
  view: RunView;
  link: Link;
  error: unknown;
  /** Starts a run for `question`. */
  ask: (request: AskInit) => void;
  /** Follows an existing run (`runs/{id}`), replaying its events from the start. */
  attach: (run: string) => void;
  /** Records a review at once, before the stream reports it. */
  markReviewed: (stepId: string, status: StepStatus) => void;
  /** The run being followed (known as soon as its first event arrives), or empty. */
  following: () => string;
  /** Stops following (the run carries on on the server). */
  stop: () => void;
}

export function useRun(api: Api, onRunStarted?: (run: string) => void): RunFollower {
  const [view, dispatch] = useReducer(reducer, emptyRun);
  const [link, setLink] = useState<Link>("idle");
  const [error, setError] = useState<unknown>();
  const controller = useRef<AbortController | undefined>(undefined);
  const followingRef = useRef("");
  const startedRef = useRef(onRunStarted);
  startedRef.current = onRunStarted;

  const follow = useCallback(
    async (first: AskInit) => {
      controller.current?.abort();
      const ctrl = new AbortController();
      controller.current = ctrl;
      dispatch({ type: "reset", view: emptyRun });
      setError(undefined);
      let run = first.run ?? "";
      followingRef.current = run;
      let sequence = 0n;
      let request = first;
      let attempt = 0;
      while (!ctrl.signal.aborted) {
        setLink(attempt === 0 ? "streaming" : "reconnecting");
        let finished = false;
        try {
          for await (const event of api.orchestrator.ask(request, { signal: ctrl.signal })) {
            if (ctrl.signal.aborted) return;
            attempt = 0;
            setLink("streaming");
            if (!run && event.run) {
              run = event.run;
              followingRef.current = run;
              startedRef.current?.(run);
            }
            if (event.sequence > sequence) sequence = event.sequence;
            dispatch({ type: "event", event });
            if (event.event.case === "runFinished") finished = true;
          }
          if (finished) {
            setLink("finished");
            return;
          }
        } catch (e) {
          if (ctrl.signal.aborted) return;
          if (!run || FINAL.has(ConnectError.from(e).code)) {
            setError(e);
            setLink("failed");
            return;
          }
        }
        attempt += 1;
        setLink("reconnecting");
        await sleep(backoffMs(attempt), ctrl.signal);
        request = { run, afterSequence: sequence };
      }
    },
    [api],
  );

  useEffect(() => () => controller.current?.abort(), []);

  return {
    view,
    link,
    error,
    ask: useCallback((request) => void follow(request), [follow]),
    attach: useCallback((run: string) => void follow({ run, afterSequence: 0n }), [follow]),
    following: useCallback(() => followingRef.current, []),
    markReviewed: useCallback((stepId: string, status: StepStatus) => dispatch({ type: "reviewed", stepId, status }), []),
    stop: useCallback(() => {
      controller.current?.abort();
      setLink((l) => (l === "finished" || l === "failed" ? l : "idle"));
    }, []),
  };
}
