// Ask the assistant: the request box, then the run as it streams (plan, steps, approvals, answer). The address
// names the run once it has started (`/ask?run=<id>`), so a reload or a link re-attaches to it.

import { useEffect, useState, type FormEvent } from "react";
import { describeError } from "../api/errors";
import { useApi, useMe } from "../app/context";
import { Link, navigate, useLocation } from "../app/router";
import { RunPanel } from "../ask/RunPanel";
import { isFinished } from "../ask/runState";
import { useRun } from "../ask/useRun";
import { PageHeading } from "../components/ui";
import { canAct } from "../session/roles";

const EXAMPLES = [
  "How much revenue did we make last week?",
  "Which invoices are overdue?",
  "How many orders did we get yesterday?",
];

export default function Ask() {
  const api = useApi();
  const { role } = useMe();
  const { query } = useLocation();
  const runParam = query.get("run") ?? "";
  const [question, setQuestion] = useState("");
  const follower = useRun(api, (run) => {
    // Name the run in the address without a new history entry, so a reload re-attaches.
    navigate(`/ask?run=${encodeURIComponent(run.replace(/^runs\//, ""))}`, { replace: true });
  });
  const { view, link, error, attach, following } = follower;

  // Opened with a run in the address (a reload, a link from the history): re-attach from its first event.
  useEffect(() => {
    const name = runParam ? `runs/${runParam}` : "";
    if (name && name !== following()) attach(name);
  }, [runParam, attach, following]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const text = question.trim();
    if (!text) return;
    follower.ask({ question: text });
  };
  const [cancelError, setCancelError] = useState<string>();
  const cancel = async () => {
    setCancelError(undefined);
    try {
      await api.orchestrator.cancelRun({ name: view.run, reason: "cancelled from the console" });
    } catch (e) {
      setCancelError(describeError(e));
    }
  };

  const running = link === "streaming" || link === "reconnecting";
  const allowed = canAct(role);
  return (
    <>
      <PageHeading>Ask</PageHeading>
      {!allowed ? (
        <p className="notice">
          Viewers can read past runs in <Link href="/runs">Runs</Link>; members, admins and owners can ask.
        </p>
      ) : (
        <form onSubmit={submit} className="ask-form" aria-label="Ask the assistant">
          <label htmlFor="question">Your request</label>
          <textarea
            id="question"
            rows={3}
            maxLength={4000}
            value={question}
            placeholder="How much revenue did we make last week?"
            onChange={(e) => setQuestion(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && (e.metaKey || e.ctrlKey)) submit(e);
            }}
            aria-describedby="question-hint"
          />
          <p id="question-hint" className="hint">
            Ask about your synced data, or ask for an action (refunds, invoices, customers): every change waits for
            approval. Ctrl+Enter sends.
          </p>
          <div className="actions">
            <button type="submit" className="primary" disabled={running || !question.trim()}>
              Ask
            </button>
            {EXAMPLES.map((example) => (
              <button key={example} type="button" className="chip" onClick={() => setQuestion(example)}>
                {example}
              </button>
            ))}
          </div>
        </form>
      )}

      {error !== undefined && (
        <p className="error" role="alert">
          {describeError(error)}
        </p>
      )}
      {view.run && (
        <section aria-labelledby="run-heading" className="run-section">
          <h2 id="run-heading" className="question">
            {view.question || "…"}
          </h2>
          <p className="muted small">
            {link === "reconnecting" && <span role="status">Connection lost; re-attaching to the run… </span>}
            <Link href={`/runs/${view.run.replace(/^runs\//, "")}`}>Run {view.run.replace(/^runs\//, "").slice(0, 8)}</Link>
            {running && !isFinished(view.status) && allowed && (
              <>
                {" · "}
                <button type="button" className="link" onClick={() => void cancel()}>
                  Cancel run
                </button>
              </>
            )}
          </p>
          {cancelError && (
            <p className="error" role="alert">
              {cancelError}
            </p>
          )}
          <RunPanel view={view} live onReviewed={follower.markReviewed} />
        </section>
      )}
    </>
  );
}
