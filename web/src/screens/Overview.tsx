// The landing screen after sign-in: what needs attention (connections to reconnect, runs waiting for approval),
// syncs in progress, and the latest runs.

import { useApi, useMe } from "../app/context";
import { Link } from "../app/router";
import { useQuery } from "../app/useQuery";
import { runLabel, runTone } from "../ask/RunPanel";
import { Badge, ErrorNote, PageHeading, When } from "../components/ui";
import { connectionLabel, connectionTone, isSyncActive } from "../connections/labels";
import { ConnectionStatus } from "../gen/switchboard/connectors/v1/connectors_pb";
import { RunStatus } from "../gen/switchboard/orchestrator/v1/orchestrator_pb";
import { canAct } from "../session/roles";

export default function Overview() {
  const api = useApi();
  const me = useMe();
  const connections = useQuery(
    async (signal) => (await api.connectors.listConnections({ pageSize: 200 }, { signal })).connections,
    "connections",
  );
  const syncs = useQuery(
    async (signal) => (await api.connectors.listSyncs({ parent: "connections/-", pageSize: 20 }, { signal })).syncs,
    "syncs",
    { pollMs: 2000, poll: (list) => list.some((s) => isSyncActive(s.status)) },
  );
  const runs = useQuery(
    async (signal) => (await api.orchestrator.listRuns({ pageSize: 5 }, { signal })).runs,
    "runs",
  );
  const waiting = useQuery(
    async (signal) =>
      (await api.orchestrator.listRuns({ pageSize: 50, status: RunStatus.AWAITING_APPROVAL }, { signal })).runs,
    "waiting",
  );
  const attention = (connections.data ?? []).filter((c) => c.status !== ConnectionStatus.ACTIVE);
  const activeSyncs = (syncs.data ?? []).filter((s) => isSyncActive(s.status));

  return (
    <>
      <PageHeading>Overview</PageHeading>
      <p className="lead">
        Welcome{me.whoami.user?.displayName ? `, ${me.whoami.user.displayName}` : ""}.{" "}
        {canAct(me.role) && (
          <Link href="/ask" className="button primary">
            Ask the assistant
          </Link>
        )}
      </p>
      <div className="grid">
        <section aria-labelledby="ov-connections" className="card">
          <h2 id="ov-connections" className="h3">
            Connections
          </h2>
          <ErrorNote error={connections.error} />
          {connections.data && (
            <p>
              <strong>{connections.data.length}</strong> connected,{" "}
              {attention.length === 0 ? "all active." : `${attention.length} need attention:`}
            </p>
          )}
          <ul className="plain">
            {attention.map((c) => (
              <li key={c.name}>
                {c.displayName || c.provider} <Badge tone={connectionTone(c.status)}>{connectionLabel[c.status]}</Badge>
              </li>
            ))}
          </ul>
          <Link href="/connections">Manage connections</Link>
        </section>
        <section aria-labelledby="ov-syncs" className="card">
          <h2 id="ov-syncs" className="h3">
            Syncs
          </h2>
          <ErrorNote error={syncs.error} />
          {syncs.data && (
            <p>
              {activeSyncs.length === 0
                ? "No sync running."
                : `${activeSyncs.length} running (${activeSyncs.map((s) => s.provider).join(", ")}).`}
            </p>
          )}
          <Link href="/syncs">See syncs</Link>
        </section>
        <section aria-labelledby="ov-approvals" className="card">
          <h2 id="ov-approvals" className="h3">
            Waiting for approval
          </h2>
          <ErrorNote error={waiting.error} />
          {waiting.data?.length === 0 && <p>Nothing is waiting.</p>}
          <ul className="plain">
            {waiting.data?.map((r) => (
              <li key={r.name}>
                <Link href={`/runs/${r.id}`}>{r.question}</Link>
              </li>
            ))}
          </ul>
        </section>
      </div>
      <section aria-labelledby="ov-runs">
        <h2 id="ov-runs">Latest runs</h2>
        <ErrorNote error={runs.error} />
        {runs.data?.length === 0 && <p>No runs yet.</p>}
        <ul className="cards">
          {runs.data?.map((r) => (
            <li key={r.name} className="card">
              <Link href={`/runs/${r.id}`}>{r.question}</Link>{" "}
              <Badge tone={runTone(r.status)}>{runLabel[r.status]}</Badge>{" "}
              <span className="muted small">
                <When ts={r.createTime} />
              </span>
            </li>
          ))}
        </ul>
      </section>
    </>
  );
}
