import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  AskResponseSchema,
  RunSchema,
  RunStatus,
  StepStatus,
  type AskResponse,
} from "../gen/switchboard/orchestrator/v1/orchestrator_pb";
import { awaitingApproval, emptyRun, fromRun, reduce, reviewed } from "./runState";

let seq = 0n;
function ev(event: MessageInitShape<typeof AskResponseSchema>["event"]): AskResponse {
  seq += 1n;
  return create(AskResponseSchema, { run: "runs/r1", sequence: seq, event });
}

/** The events of "Refund the last charge of jane@example.com": a lookup, then a refund waiting for approval. */
function refundStream(): AskResponse[] {
  seq = 0n;
  return [
    ev({ case: "runStarted", value: { run: { name: "runs/r1", question: "Refund the last charge of jane", model: "offline/rules", creator: "u1", status: RunStatus.PLANNING } } }),
    ev({
      case: "plan",
      value: {
        summary: "Find the charge, then refund it.",
        steps: [
          { id: "1", description: "Find the last charge", tool: "records.query", input: { kind: "charge" } },
          { id: "2", description: "Refund it", tool: "stripe.refund.create", needsApproval: true, dependsOn: ["1"] },
        ],
      },
    }),
    ev({ case: "stepStarted", value: { step: "runs/r1/steps/1", stepId: "1", tool: "records.query" } }),
    ev({
      case: "stepFinished",
      value: { step: "runs/r1/steps/1", stepId: "1", status: StepStatus.SUCCEEDED, outcome: { case: "output", value: { count: 1 } } },
    }),
    ev({
      case: "approvalNeeded",
      value: { step: "runs/r1/steps/2", stepId: "2", description: "Refund $40 on ch_1", tool: "stripe.refund.create", connection: "connections/c1", input: { charge: "ch_1" } },
    }),
  ];
}

describe("reduce", () => {
  it("turns the stream into steps in plan order with their states", () => {
    const view = refundStream().reduce(reduce, emptyRun);
    expect(view.run).toBe("runs/r1");
    expect(view.question).toBe("Refund the last charge of jane");
    expect(view.order).toEqual(["1", "2"]);
    expect(view.steps["1"].status).toBe(StepStatus.SUCCEEDED);
    expect(view.steps["1"].output).toEqual({ count: 1 });
    expect(view.steps["2"]).toMatchObject({
      name: "runs/r1/steps/2",
      status: StepStatus.AWAITING_APPROVAL,
      description: "Refund $40 on ch_1",
      connection: "connections/c1",
      input: { charge: "ch_1" },
      dependsOn: ["1"],
    });
    expect(view.status).toBe(RunStatus.AWAITING_APPROVAL);
    expect(awaitingApproval(view).map((s) => s.id)).toEqual(["2"]);
    expect(view.sequence).toBe(5n);
  });

  it("ignores events it has already applied (a re-attached stream repeats some)", () => {
    const events = refundStream();
    const once = events.reduce(reduce, emptyRun);
    const twice = [...events, events[2], events[3]].reduce(reduce, emptyRun);
    expect(twice).toEqual(once);
  });

  it("ignores events of another run", () => {
    const view = refundStream().reduce(reduce, emptyRun);
    const other = create(AskResponseSchema, { run: "runs/other", sequence: 99n, event: { case: "runFinished", value: { status: RunStatus.FAILED } } });
    expect(reduce(view, other)).toBe(view);
  });

  it("runs on after approval, then writes the answer from deltas and the final answer", () => {
    let view = refundStream().reduce(reduce, emptyRun);
    view = reviewed(view, "2", StepStatus.PENDING);
    expect(view.status).toBe(RunStatus.RUNNING);
    for (const e of [
      ev({ case: "stepStarted", value: { stepId: "2", tool: "stripe.refund.create" } }),
      ev({ case: "stepFinished", value: { stepId: "2", status: StepStatus.SUCCEEDED, auditEventId: "ev-9", outcome: { case: "output", value: { id: "re_1" } } } }),
      ev({ case: "answerDelta", value: { text: "Refunded " } }),
      ev({ case: "answerDelta", value: { text: "$40" } }),
    ]) view = reduce(view, e);
    expect(view.draft).toBe("Refunded $40");
    expect(view.steps["2"]).toMatchObject({ status: StepStatus.SUCCEEDED, auditEventId: "ev-9" });
    view = reduce(view, ev({ case: "answerDelta", value: { text: "Done: ", restart: true } }));
    expect(view.draft).toBe("Done: ");
    view = reduce(view, ev({ case: "answer", value: { text: "Done: refunded $40 [1].", citations: [{ title: "Stripe refund re_1", step: "runs/r1/steps/2", recordId: "re_1" }] } }));
    view = reduce(view, ev({ case: "runFinished", value: { status: RunStatus.SUCCEEDED } }));
    expect(view.answer?.citations).toHaveLength(1);
    expect(view.draft).toBe("Done: refunded $40 [1].");
    expect(view.status).toBe(RunStatus.SUCCEEDED);
  });

  it("keeps what the stream reported when ApproveStep's answer arrives after it", () => {
    let view = refundStream().reduce(reduce, emptyRun);
    view = reduce(view, ev({ case: "stepStarted", value: { stepId: "2", tool: "stripe.refund.create" } }));
    view = reduce(view, ev({ case: "stepFinished", value: { stepId: "2", status: StepStatus.SUCCEEDED } }));
    // The approval's answer (the step as it was when approved) arrives late.
    expect(reviewed(view, "2", StepStatus.PENDING)).toBe(view);
    expect(view.steps["2"].status).toBe(StepStatus.SUCCEEDED);
  });

  it("records a rejected step and a failed run", () => {
    let view = refundStream().reduce(reduce, emptyRun);
    view = reduce(view, ev({ case: "stepFinished", value: { stepId: "2", status: StepStatus.REJECTED, outcome: { case: "error", value: { code: 9, message: "rejected: wrong customer" } } } }));
    view = reduce(view, ev({ case: "runFinished", value: { status: RunStatus.FAILED, error: { code: 9, message: "nothing done" } } }));
    expect(view.steps["2"].status).toBe(StepStatus.REJECTED);
    expect(view.steps["2"].error?.message).toBe("rejected: wrong customer");
    expect(view.status).toBe(RunStatus.FAILED);
    expect(view.error?.message).toBe("nothing done");
  });
});

describe("fromRun", () => {
  it("builds the same view from a stored run", () => {
    const run = create(RunSchema, {
      name: "runs/r1",
      question: "q",
      status: RunStatus.AWAITING_APPROVAL,
      creator: "u1",
      plan: { summary: "s", steps: [{ id: "1", tool: "records.query" }, { id: "2", tool: "stripe.refund.create", needsApproval: true }] },
      steps: [
        { name: "runs/r1/steps/1", id: "1", tool: "records.query", status: StepStatus.SUCCEEDED, outcome: { case: "output", value: { count: 1 } } },
        { name: "runs/r1/steps/2", id: "2", tool: "stripe.refund.create", status: StepStatus.AWAITING_APPROVAL, needsApproval: true },
      ],
    });
    const view = fromRun(run);
    expect(view.order).toEqual(["1", "2"]);
    expect(view.steps["1"].output).toEqual({ count: 1 });
    expect(awaitingApproval(view).map((s) => s.name)).toEqual(["runs/r1/steps/2"]);
  });
});
