import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { act, renderHook, waitFor } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { createApi } from "../api/clients";
import { OrchestratorService, RunStatus, type AskRequest } from "../gen/switchboard/orchestrator/v1/orchestrator_pb";
import { backoffMs, useRun } from "./useRun";

describe("useRun", () => {
  it("re-attaches after a broken stream with after_sequence, and applies each event once", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const requests: { question: string; run: string; afterSequence: bigint }[] = [];
    const transport = createRouterTransport(({ service }) =>
      service(OrchestratorService, {
        async *ask(req: AskRequest) {
          requests.push({ question: req.question, run: req.run, afterSequence: req.afterSequence });
          if (requests.length === 1) {
            yield { run: "runs/r1", sequence: 1n, event: { case: "runStarted", value: { run: { name: "runs/r1", question: "q" } } } };
            yield { run: "runs/r1", sequence: 2n, event: { case: "answerDelta", value: { text: "Hello" } } };
            throw new ConnectError("connection reset", Code.Unavailable);
          }
          // The server replays from after_sequence; a repeat of 2 would be ignored anyway.
          yield { run: "runs/r1", sequence: 2n, event: { case: "answerDelta", value: { text: "Hello" } } };
          yield { run: "runs/r1", sequence: 3n, event: { case: "answerDelta", value: { text: ", world" } } };
          yield { run: "runs/r1", sequence: 4n, event: { case: "runFinished", value: { status: RunStatus.SUCCEEDED } } };
        },
      }),
    );
    const started = vi.fn();
    const { result } = renderHook(() => useRun(createApi(transport), started));
    act(() => result.current.ask({ question: "q" }));
    await waitFor(() => expect(result.current.link).toBe("reconnecting"));
    expect(result.current.view.draft).toBe("Hello");
    await act(async () => {
      await vi.advanceTimersByTimeAsync(backoffMs(1));
    });
    await waitFor(() => expect(result.current.link).toBe("finished"));
    expect(requests).toEqual([
      { question: "q", run: "", afterSequence: 0n },
      { question: "", run: "runs/r1", afterSequence: 2n },
    ]);
    expect(result.current.view.draft).toBe("Hello, world");
    expect(result.current.view.status).toBe(RunStatus.SUCCEEDED);
    expect(started).toHaveBeenCalledTimes(1);
    expect(started).toHaveBeenCalledWith("runs/r1");
    vi.useRealTimers();
  });

  it("shows a refused request and does not retry it", async () => {
    let calls = 0;
    const transport = createRouterTransport(({ service }) =>
      service(OrchestratorService, {
        async *ask() {
          calls += 1;
          throw new ConnectError("question is empty", Code.InvalidArgument);
        },
      }),
    );
    const { result } = renderHook(() => useRun(createApi(transport)));
    act(() => result.current.ask({ question: " " }));
    await waitFor(() => expect(result.current.link).toBe("failed"));
    expect(ConnectError.from(result.current.error).code).toBe(Code.InvalidArgument);
    expect(calls).toBe(1);
  });

  it("backs off from half a second to ten", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(backoffMs)).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000]);
  });
});
