// The tenant's audit log (ListEvents), newest first, and whether its hash chain verifies (VerifyChain, which needs
// ROLE_ADMIN; others see the latest signed checkpoint instead).

import { useState, type FormEvent } from "react";
import { useApi, useMe } from "../app/context";
import { useQuery } from "../app/useQuery";
import { Badge, ErrorNote, Json, Loading, PageHeading, When } from "../components/ui";
import { Outcome, type AuditEvent } from "../gen/switchboard/audit/v1/audit_pb";
import { canAdminister } from "../session/roles";

const PAGE_SIZE = 50;

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

const outcomeLabel: Record<Outcome, string> = {
  [Outcome.UNSPECIFIED]: "—",
  [Outcome.SUCCESS]: "success",
  [Outcome.FAILURE]: "failure",
  [Outcome.DENIED]: "denied",
};

export default function Audit() {
  const api = useApi();
  const { role } = useMe();
  const admin = canAdminister(role);
  const [filters, setFilters] = useState({ actor: "", action: "" });
  const [draft, setDraft] = useState(filters);
  const [pages, setPages] = useState<string[]>([]);
  const [pageToken, setPageToken] = useState("");
  const events = useQuery(
    (signal) => api.audit.listEvents({ pageSize: PAGE_SIZE, pageToken, ...filters }, { signal }),
    JSON.stringify({ ...filters, pageToken }),
  );
  const [verifyCount, setVerifyCount] = useState(0);
  const verify = useQuery(
    async (signal) => (admin ? api.audit.verifyChain({}, { signal }) : undefined),
    `verify-${verifyCount}`,
  );
  const checkpoint = useQuery(
    async (signal) => (admin ? undefined : (await api.audit.getCheckpoint({}, { signal })).checkpoint),
    "checkpoint",
  );

  const apply = (event: FormEvent) => {
    event.preventDefault();
    setFilters({ actor: draft.actor.trim(), action: draft.action.trim() });
    setPages([]);
    setPageToken("");
  };

  return (
    <>
      <PageHeading>Audit log</PageHeading>
      <section aria-labelledby="chain" className="card">
        <h2 id="chain" className="h3">
          Chain verification
        </h2>
        {admin ? (
          <>
            {verify.loading && <p role="status">Verifying the chain…</p>}
            <ErrorNote error={verify.error} />
            {verify.data && !verify.loading && (
              <p role="status" data-testid="chain-status">
                {verify.data.valid ? (
                  <Badge tone="ok">valid</Badge>
                ) : (
                  <Badge tone="bad">broken</Badge>
                )}{" "}
                {verify.data.valid
                  ? `${verify.data.checkedEvents} events checked, head at #${verify.data.headSeq}.`
                  : `First bad entry #${verify.data.firstInvalidSeq}: ${verify.data.reason}`}
                {verify.data.checkpoint && (
                  <span className="muted small">
                    {" "}
                    Signed checkpoint #{verify.data.checkpoint.seq.toString()} by key {verify.data.checkpoint.keyId}.
                  </span>
                )}
              </p>
            )}
            <button type="button" onClick={() => setVerifyCount((c) => c + 1)} disabled={verify.loading}>
              Verify again
            </button>
          </>
        ) : (
          <>
            <p className="muted">Owners and admins can re-verify the whole chain.</p>
            <ErrorNote error={checkpoint.error} />
            {checkpoint.data && (
              <p>
                Latest signed checkpoint: #{checkpoint.data.seq.toString()} (key {checkpoint.data.keyId}),{" "}
                <When ts={checkpoint.data.createTime} />.
              </p>
            )}
          </>
        )}
      </section>

      <form className="filters" onSubmit={apply} aria-label="Filter events">
        <div className="field">
          <label htmlFor="actor">Actor</label>
          <input
            id="actor"
            placeholder="user:…"
            value={draft.actor}
            onChange={(e) => setDraft({ ...draft, actor: e.target.value })}
          />
        </div>
        <div className="field">
          <label htmlFor="action">Action</label>
          <input
            id="action"
            placeholder="auth.login"
            value={draft.action}
            onChange={(e) => setDraft({ ...draft, action: e.target.value })}
          />
        </div>
        <button type="submit">Filter</button>
      </form>

      <ErrorNote error={events.error} />
      {events.loading && !events.data && <Loading what="events" />}
      {events.data?.events.length === 0 && <p>No events.</p>}
      <ul className="events" aria-label="Audit events">
        {events.data?.events.map((e) => (
          <EventItem key={e.eventId} event={e} />
        ))}
      </ul>
      <div className="pager">
        <button
          type="button"
          disabled={pages.length === 0}
          onClick={() => {
            setPageToken(pages[pages.length - 1] ?? "");
            setPages(pages.slice(0, -1));
          }}
        >
          Newer
        </button>
        <button
          type="button"
          disabled={!events.data?.nextPageToken}
          onClick={() => {
            setPages([...pages, pageToken]);
            setPageToken(events.data?.nextPageToken ?? "");
          }}
        >
          Older
        </button>
      </div>
    </>
  );
}

function EventItem({ event: e }: { event: AuditEvent }) {
  const tone = e.outcome === Outcome.SUCCESS ? "ok" : e.outcome === Outcome.UNSPECIFIED ? "idle" : "bad";
  return (
    <li className="event" data-testid="audit-event" data-action={e.action}>
      <details>
        <summary>
          <span className="seq">#{e.seq.toString()}</span> <strong>{e.action}</strong>{" "}
          <Badge tone={tone}>{outcomeLabel[e.outcome]}</Badge>{" "}
          <span className="muted small">
            {e.resource && <>{e.resource} · </>}
            {e.actor} · <When ts={e.occurTime} />
          </span>
        </summary>
        <dl className="kv small">
          <dt>Event</dt>
          <dd>{e.eventId}</dd>
          <dt>Request</dt>
          <dd>{e.requestId || "—"}</dd>
          <dt>Hash</dt>
          <dd>
            <code>{hex(e.hash)}</code>
          </dd>
        </dl>
        {e.details && Object.keys(e.details).length > 0 && <Json value={e.details} />}
      </details>
    </li>
  );
}
