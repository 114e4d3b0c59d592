// A run on screen: the plan and each step's state, approval cards for steps waiting on a person (to those allowed to
// review them), and the answer with its citations. Used live by Ask and for stored runs by the history.

import { useState } from "react";
import { describeError } from "../api/errors";
import { useApi, useMe } from "../app/context";
import { Link } from "../app/router";
import { Badge, Json } from "../components/ui";
import { RunStatus, StepStatus, type Citation } from "../gen/switchboard/orchestrator/v1/orchestrator_pb";
import { useConnectionNames } from "../connections/useConnectionNames";
import { canReview } from "../session/roles";
import { citationHref } from "./citations";
import { Markdown } from "./Markdown";
import { awaitingApproval, isFinished, type RunView, type StepView } from "./runState";

export const stepLabel: Record<StepStatus, string> = {
  [StepStatus.UNSPECIFIED]: "unknown",
  [StepStatus.PENDING]: "pending",
  [StepStatus.AWAITING_APPROVAL]: "awaiting approval",
  [StepStatus.RUNNING]: "running",
  [StepStatus.SUCCEEDED]: "done",
  [StepStatus.FAILED]: "failed",
  [StepStatus.REJECTED]: "rejected",
  [StepStatus.SKIPPED]: "skipped",
  [StepStatus.CANCELLED]: "cancelled",
};

export const runLabel: Record<RunStatus, string> = {
  [RunStatus.UNSPECIFIED]: "starting",
  [RunStatus.PLANNING]: "planning",
  [RunStatus.RUNNING]: "running",
  [RunStatus.AWAITING_APPROVAL]: "waiting for approval",
  [RunStatus.SUCCEEDED]: "answered",
  [RunStatus.FAILED]: "failed",
  [RunStatus.CANCELLED]: "cancelled",
};

export function runTone(status: RunStatus) {
  switch (status) {
    case RunStatus.SUCCEEDED:
      return "ok" as const;
    case RunStatus.FAILED:
      return "bad" as const;
    case RunStatus.AWAITING_APPROVAL:
    case RunStatus.CANCELLED:
      return "warn" as const;
    default:
      return "busy" as const;
  }
}

function stepTone(status: StepStatus) {
  switch (status) {
    case StepStatus.SUCCEEDED:
      return "ok" as const;
    case StepStatus.FAILED:
      return "bad" as const;
    case StepStatus.AWAITING_APPROVAL:
    case StepStatus.REJECTED:
      return "warn" as const;
    case StepStatus.RUNNING:
      return "busy" as const;
    default:
      return "idle" as const;
  }
}

export function RunPanel({
  view,
  onReviewed,
  live = false,
}: {
  view: RunView;
  /** Called after an approval or rejection was accepted, with the step's new status. */
  onReviewed?: (stepId: string, status: StepStatus) => void;
  /** True while the run is being followed (the answer area announces when it is done). */
  live?: boolean;
}) {
  const me = useMe();
  const waiting = awaitingApproval(view);
  const reviewer = canReview(me.role, me.userId, view.creator);
  const connectionName = useConnectionNames();
  return (
    <div className="run">
      <p className="run-status" role="status" data-testid="run-status">
        <Badge tone={runTone(view.status)}>{runLabel[view.status]}</Badge>
        {view.model && <span className="muted small"> · {view.model}</span>}
      </p>
      {view.error?.message && <p className="error">{view.error.message}</p>}

      {waiting.length > 0 && (
        <section aria-labelledby="approvals" className="approvals">
          <h2 id="approvals">Needs approval</h2>
          {reviewer ? (
            waiting.map((step) => (
              <ApprovalCard key={step.id} step={step} onReviewed={onReviewed} connectionName={connectionName} />
            ))
          ) : (
            <p data-testid="approval-wait">
              {waiting.length === 1 ? "A step is" : `${waiting.length} steps are`} waiting for an owner or admin
              {view.creator ? " (or the member who asked)" : ""} to approve or reject.
            </p>
          )}
        </section>
      )}

      {view.order.length > 0 && (
        <section aria-labelledby="plan">
          <h2 id="plan">Plan</h2>
          {view.planSummary && <p>{view.planSummary}</p>}
          <ol className="steps">
            {view.order.map((id) => (
              <StepItem key={id} step={view.steps[id]} connectionName={connectionName} />
            ))}
          </ol>
        </section>
      )}

      {(view.draft || view.answer) && (
        <section aria-labelledby="answer" className="answer" aria-busy={live && !view.answer}>
          <h2 id="answer">Answer</h2>
          <div data-testid="answer-text">
            <Markdown
              text={view.answer?.text ?? view.draft}
              cite={(n) =>
                view.answer?.citations[n - 1] ? (
                  <a href={`#cite-${n}`} className="cite" aria-label={`citation ${n}`}>
                    [{n}]
                  </a>
                ) : (
                  `[${n}]`
                )
              }
            />
          </div>
          {view.answer && view.answer.citations.length > 0 && (
            <>
              <h3>Sources</h3>
              <ol className="citations">
                {view.answer.citations.map((c, i) => (
                  <CitationItem key={i} n={i + 1} citation={c} view={view} />
                ))}
              </ol>
            </>
          )}
        </section>
      )}
      {live && isFinished(view.status) && (
        <p className="visually-hidden" role="status">
          The run has {runLabel[view.status]}.
        </p>
      )}
    </div>
  );
}

function StepItem({ step, connectionName }: { step: StepView; connectionName: (name: string) => string }) {
  return (
    <li className="step" data-testid="step" data-status={stepLabel[step.status]}>
      <div className="step-head">
        <span className="step-desc">{step.description || step.tool}</span>{" "}
        <Badge tone={stepTone(step.status)}>{stepLabel[step.status]}</Badge>
        {step.needsApproval && <span className="muted small"> · needs approval</span>}
      </div>
      <p className="muted small">
        <code>{step.tool}</code>
        {step.connection && <> on {connectionName(step.connection)}</>}
      </p>
      {step.error?.message && <p className="error-text">{step.error.message}</p>}
      {(step.input || step.output) && (
        <details>
          <summary>Details</summary>
          {step.input && (
            <>
              <h3 className="h4">Input</h3>
              <Json value={step.input} />
            </>
          )}
          {step.output && (
            <>
              <h3 className="h4">Output</h3>
              <Json value={step.output} />
            </>
          )}
          {step.auditEventId && <p className="small">Audit event {step.auditEventId}</p>}
        </details>
      )}
    </li>
  );
}

export function ApprovalCard({
  step,
  onReviewed,
  connectionName = (name) => name,
}: {
  step: StepView;
  onReviewed?: (stepId: string, status: StepStatus) => void;
  connectionName?: (name: string) => string;
}) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string>();
  const id = `approve-${step.id}`;

  const review = async (approve: boolean) => {
    setBusy(true);
    setError(undefined);
    try {
      const { step: after } = approve
        ? await api.orchestrator.approveStep({ name: step.name })
        : await api.orchestrator.rejectStep({ name: step.name, reason });
      onReviewed?.(step.id, after?.status ?? (approve ? StepStatus.PENDING : StepStatus.REJECTED));
    } catch (e) {
      setError(describeError(e));
      setBusy(false);
    }
  };

  return (
    <article className="card approval" aria-labelledby={id} data-testid="approval-card">
      <h3 id={id}>{step.description || step.tool}</h3>
      <p className="small">
        <code>{step.tool}</code>
        {step.connection && <> on {connectionName(step.connection)}</>}
      </p>
      {step.input && <Json value={step.input} />}
      <label htmlFor={`${id}-reason`}>Reason if you reject (optional)</label>
      <input id={`${id}-reason`} value={reason} onChange={(e) => setReason(e.target.value)} />
      <div className="actions">
        <button type="button" className="primary" disabled={busy} onClick={() => void review(true)}>
          Approve
        </button>
        <button type="button" className="danger" disabled={busy} onClick={() => void review(false)}>
          Reject
        </button>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </article>
  );
}

function CitationItem({ n, citation, view }: { n: number; citation: Citation; view: RunView }) {
  const href = citationHref(citation, view);
  return (
    <li id={`cite-${n}`} tabIndex={-1}>
      <span className="cite-title">{citation.title || citation.recordId || citation.step}</span>
      {href && (
        <>
          {" "}
          <Link href={href} data-testid="citation-link">
            Open {citation.recordId ? "record" : "records"}
          </Link>
        </>
      )}
      {citation.url && /^https?:\/\//.test(citation.url) && (
        <>
          {" "}
          <a href={citation.url} target="_blank" rel="noopener noreferrer">
            At the provider
          </a>
        </>
      )}
      {citation.snippet && (
        <details>
          <summary>Excerpt</summary>
          <pre className="json" tabIndex={0}>
            {citation.snippet}
          </pre>
        </details>
      )}
    </li>
  );
}
