// Syncs, newest first, followed live: while any is waiting or running the list is asked for again every second.
// A sync opened from a "Sync now" button (`?sync=`) is shown first and its end is announced.

import { useApi } from "../app/context";
import { Link, useLocation } from "../app/router";
import { useQuery } from "../app/useQuery";
import { Badge, ErrorNote, Loading, PageHeading, When } from "../components/ui";
import { isSyncActive, syncLabel, syncTone } from "../connections/labels";
import type { Connection, Sync } from "../gen/switchboard/connectors/v1/connectors_pb";

const POLL_MS = 1000;

export default function Syncs() {
  const api = useApi();
  const { query } = useLocation();
  const followed = query.get("sync") ?? "";
  const syncs = useQuery(
    async (signal) => (await api.connectors.listSyncs({ parent: "connections/-", pageSize: 50 }, { signal })).syncs,
    "syncs",
    { pollMs: POLL_MS, poll: (list) => list.some((s) => isSyncActive(s.status)) || (followed !== "" && !list.some((s) => s.name === followed)) },
  );
  const connections = useQuery(
    async (signal) => (await api.connectors.listConnections({ pageSize: 200 }, { signal })).connections,
    "connections",
  );
  const names = new Map((connections.data ?? []).map((c: Connection) => [c.name, c.displayName || c.provider]));
  const list = syncs.data ?? [];
  const first = list.find((s) => s.name === followed);
  const ordered = first ? [first, ...list.filter((s) => s !== first)] : list;

  return (
    <>
      <PageHeading>Syncs</PageHeading>
      <p className="muted">
        Syncs copy each connection's records into Switchboard. Start one from <Link href="/connections">Connections</Link>.
      </p>
      {first && (
        <p className="notice" role="status" aria-live="polite">
          {isSyncActive(first.status)
            ? `Syncing ${names.get(first.connection) ?? first.provider}: ${first.recordsFetched} records so far.`
            : `Sync of ${names.get(first.connection) ?? first.provider} ${syncLabel[first.status]}: ${first.recordsFetched} records fetched.`}
        </p>
      )}
      <ErrorNote error={syncs.error} />
      {syncs.data === undefined && syncs.loading && <Loading what="syncs" />}
      {syncs.data?.length === 0 && <p>No syncs yet.</p>}
      <ul className="cards" aria-label="Syncs">
        {ordered.map((s) => (
          <SyncCard
            key={s.name}
            sync={s}
            name={names.get(s.connection) ?? (connections.data ? "Deleted connection" : s.connection)}
            highlighted={s === first}
          />
        ))}
      </ul>
    </>
  );
}

function SyncCard({ sync: s, name, highlighted }: { sync: Sync; name: string; highlighted: boolean }) {
  const active = isSyncActive(s.status);
  const id = `sync-${s.id}`;
  return (
    <li className={highlighted ? "card highlighted" : "card"} aria-labelledby={id} data-testid="sync">
      <h2 id={id} className="h3">
        {name} <span className="muted small">({s.provider})</span>
      </h2>
      <p>
        <Badge tone={syncTone(s.status)}>{syncLabel[s.status]}</Badge>{" "}
        <span className="muted small">{s.full ? "full" : "changes only"}</span>
      </p>
      {active && <progress aria-label={`Sync of ${name} in progress`} />}
      <dl className="counts">
        <div>
          <dt>Fetched</dt>
          <dd>{s.recordsFetched.toString()}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>{s.recordsCreated.toString()}</dd>
        </div>
        <div>
          <dt>Updated</dt>
          <dd>{s.recordsUpdated.toString()}</dd>
        </div>
        <div>
          <dt>Deleted</dt>
          <dd>{s.recordsDeleted.toString()}</dd>
        </div>
      </dl>
      {s.error?.message && <p className="error-text">{s.error.message}</p>}
      <p className="muted small">
        Started <When ts={s.startTime ?? s.createTime} />
        {s.endTime && (
          <>
            {" "}
            · ended <When ts={s.endTime} />
          </>
        )}
        {s.recordKinds.length > 0 && <> · {s.recordKinds.join(", ")}</>}
      </p>
    </li>
  );
}
