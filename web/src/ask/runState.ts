// A run as the console shows it, built from Ask's stream of events (or from a stored Run, for the history).
//
// `reduce` is pure: each event moves the view on, events at or below the last applied sequence are ignored (a
// re-attached stream may repeat some), and the order of steps is the plan's.

import type { JsonObject } from "@bufbuild/protobuf";
import type { Status } from "../gen/google/rpc/status_pb";
import {
  RunStatus,
  StepStatus,
  type Answer,
  type AskResponse,
  type Run,
} from "../gen/switchboard/orchestrator/v1/orchestrator_pb";

/** One step, as planned and as it went. */
export interface StepView {
  /** Step id within the run (`1`, `2`, ...). */
  id: string;
  /** `runs/{run}/steps/{id}`: what ApproveStep and RejectStep take. */
  name: string;
  description: string;
  tool: string;
  connection: string;
  input?: JsonObject;
  status: StepStatus;
  needsApproval: boolean;
  dependsOn: string[];
  output?: JsonObject;
  error?: Status;
  auditEventId: string;
}

export interface RunView {
  /** `runs/{id}`; empty until the run has started. */
  run: string;
  question: string;
  status: RunStatus;
  model: string;
  /** Id of the user who asked. */
  creator: string;
  /** Last sequence applied: pass it as `after_sequence` to re-attach. */
  sequence: bigint;
  planSummary: string;
  /** Step ids in plan order. */
  order: string[];
  steps: Record<string, StepView>;
  /** The answer written so far, from the deltas; replaced by `answer` when it arrives. */
  draft: string;
  answer?: Answer;
  /** Why the run failed or was cancelled. */
  error?: Status;
}

export const emptyRun: RunView = {
  run: "",
  question: "",
  status: RunStatus.UNSPECIFIED,
  model: "",
  creator: "",
  sequence: 0n,
  planSummary: "",
  order: [],
  steps: {},
  draft: "",
};

/** True once the run has ended: no further events will come. */
export function isFinished(status: RunStatus): boolean {
  return status === RunStatus.SUCCEEDED || status === RunStatus.FAILED || status === RunStatus.CANCELLED;
}

/** Steps waiting for a person's approval, in plan order. */
export function awaitingApproval(view: RunView): StepView[] {
  return view.order.map((id) => view.steps[id]).filter((s) => s?.status === StepStatus.AWAITING_APPROVAL);
}

function stepName(run: string, id: string): string {
  return `${run}/steps/${id}`;
}

function withStep(view: RunView, id: string, change: Partial<StepView>): RunView {
  const known = view.steps[id];
  const step: StepView = known
    ? { ...known, ...change }
    : {
        id,
        name: stepName(view.run, id),
        description: "",
        tool: "",
        connection: "",
        status: StepStatus.PENDING,
        needsApproval: false,
        dependsOn: [],
        auditEventId: "",
        ...change,
      };
  return {
    ...view,
    order: known ? view.order : [...view.order, id],
    steps: { ...view.steps, [id]: step },
  };
}

/** Applies one event of the Ask stream. */
export function reduce(view: RunView, event: AskResponse): RunView {
  if (view.run && event.run && event.run !== view.run) return view;
  if (event.sequence <= view.sequence) return view;
  let next: RunView = { ...view, run: event.run || view.run, sequence: event.sequence };
  const e = event.event;
  switch (e.case) {
    case "runStarted": {
      const run = e.value.run;
      next = {
        ...next,
        question: run?.question ?? next.question,
        model: run?.model ?? next.model,
        creator: run?.creator ?? next.creator,
        status: run && run.status !== RunStatus.UNSPECIFIED ? run.status : RunStatus.PLANNING,
      };
      break;
    }
    case "plan": {
      next = { ...next, planSummary: e.value.summary, status: RunStatus.RUNNING };
      for (const planned of e.value.steps) {
        next = withStep(next, planned.id, {
          description: planned.description,
          tool: planned.tool,
          connection: planned.connection,
          input: planned.input,
          needsApproval: planned.needsApproval,
          dependsOn: planned.dependsOn,
        });
      }
      break;
    }
    case "stepStarted":
      next = withStep(next, e.value.stepId, {
        status: StepStatus.RUNNING,
        tool: e.value.tool || (next.steps[e.value.stepId]?.tool ?? ""),
        input: e.value.input ?? next.steps[e.value.stepId]?.input,
      });
      if (!isFinished(next.status)) next.status = RunStatus.RUNNING;
      break;
    case "stepFinished": {
      const outcome = e.value.outcome;
      next = withStep(next, e.value.stepId, {
        status: e.value.status,
        output: outcome.case === "output" ? outcome.value : undefined,
        error: outcome.case === "error" ? outcome.value : undefined,
        auditEventId: e.value.auditEventId,
      });
      if (next.status === RunStatus.AWAITING_APPROVAL && awaitingApproval(next).length === 0) {
        next.status = RunStatus.RUNNING;
      }
      break;
    }
    case "approvalNeeded":
      next = withStep(next, e.value.stepId, {
        status: StepStatus.AWAITING_APPROVAL,
        description: e.value.description || (next.steps[e.value.stepId]?.description ?? ""),
        tool: e.value.tool || (next.steps[e.value.stepId]?.tool ?? ""),
        connection: e.value.connection || (next.steps[e.value.stepId]?.connection ?? ""),
        input: e.value.input ?? next.steps[e.value.stepId]?.input,
        needsApproval: true,
      });
      next.status = RunStatus.AWAITING_APPROVAL;
      break;
    case "answerDelta":
      next.draft = e.value.restart ? e.value.text : next.draft + e.value.text;
      break;
    case "answer":
      next.answer = e.value;
      next.draft = e.value.text;
      break;
    case "runFinished":
      next.status = e.value.status;
      next.error = e.value.error;
      break;
    default:
      break;
  }
  return next;
}

/**
 * Marks a step as reviewed at once, from ApproveStep's or RejectStep's answer. The stream may already have reported
 * what happened next (the step ran while the answer was on its way): only a step still awaiting approval changes.
 */
export function reviewed(view: RunView, stepId: string, status: StepStatus): RunView {
  if (view.steps[stepId]?.status !== StepStatus.AWAITING_APPROVAL) return view;
  const next = withStep(view, stepId, { status });
  if (next.status === RunStatus.AWAITING_APPROVAL && awaitingApproval(next).length === 0) {
    next.status = RunStatus.RUNNING;
  }
  return next;
}

/** The view of a stored run (GetRun), for the history. */
export function fromRun(run: Run): RunView {
  let view: RunView = {
    ...emptyRun,
    run: run.name,
    question: run.question,
    status: run.status,
    model: run.model,
    creator: run.creator,
    planSummary: run.plan?.summary ?? "",
    answer: run.answer,
    draft: run.answer?.text ?? "",
    error: run.error,
  };
  for (const planned of run.plan?.steps ?? []) {
    view = withStep(view, planned.id, {
      description: planned.description,
      tool: planned.tool,
      connection: planned.connection,
      input: planned.input,
      needsApproval: planned.needsApproval,
      dependsOn: planned.dependsOn,
    });
  }
  for (const step of run.steps) {
    view = withStep(view, step.id, {
      name: step.name || stepName(run.name, step.id),
      description: step.description || (view.steps[step.id]?.description ?? ""),
      tool: step.tool || (view.steps[step.id]?.tool ?? ""),
      connection: step.connection,
      input: step.input ?? view.steps[step.id]?.input,
      status: step.status,
      needsApproval: step.needsApproval,
      output: step.outcome.case === "output" ? step.outcome.value : undefined,
      error: step.outcome.case === "error" ? step.outcome.value : undefined,
      auditEventId: step.auditEventId,
    });
  }
  return view;
}
