// The tenant's connections with their state, and the ways to add one: OAuth (StartOAuth sends the browser to the
// provider, which comes back to /oauth/callback) or an API key (CreateConnection) where the provider takes one.
// Admins connect, reconnect and delete; members start syncs; viewers look.

import { useState, type FormEvent } from "react";
import { useApi, useMe } from "../app/context";
import { Link, navigate, useLocation } from "../app/router";
import { useQuery } from "../app/useQuery";
import { Badge, ErrorNote, Loading, PageHeading, When } from "../components/ui";
import { connectionLabel, connectionTone } from "../connections/labels";
import { startOAuth } from "../connections/oauth";
import {
  AuthKind,
  ConnectionStatus,
  type Connection,
  type Provider,
} from "../gen/switchboard/connectors/v1/connectors_pb";
import { canAct, canAdminister } from "../session/roles";

export default function Connections() {
  const api = useApi();
  const { role } = useMe();
  const { query } = useLocation();
  const connected = query.get("connected") ?? "";
  const [version, setVersion] = useState(0);
  const connections = useQuery(
    async (signal) => (await api.connectors.listConnections({ pageSize: 200 }, { signal })).connections,
    `connections-${version}`,
  );
  const providers = useQuery(
    async (signal) => (await api.connectors.listProviders({}, { signal })).providers,
    "providers",
  );
  const reload = () => setVersion((v) => v + 1);
  const justConnected = connections.data?.find((c) => c.name === connected);

  return (
    <>
      <PageHeading>Connections</PageHeading>
      {justConnected && (
        <p className="notice" role="status">
          Connected {justConnected.displayName || justConnected.provider}
          {justConnected.account && !justConnected.displayName.includes(justConnected.account)
            ? ` (${justConnected.account})`
            : ""}
          . Start its first sync below.
        </p>
      )}
      <section aria-labelledby="yours">
        <h2 id="yours">Your connections</h2>
        <ErrorNote error={connections.error} />
        {connections.data === undefined && connections.loading && <Loading what="connections" />}
        {connections.data?.length === 0 && <p>No connections yet.</p>}
        <ul className="cards">
          {connections.data?.map((c) => (
            <ConnectionCard
              key={c.name}
              connection={c}
              provider={providers.data?.find((p) => p.id === c.provider)}
              canSync={canAct(role)}
              canManage={canAdminister(role)}
              onChanged={reload}
            />
          ))}
        </ul>
      </section>
      <section aria-labelledby="add">
        <h2 id="add">Add a connection</h2>
        {!canAdminister(role) ? (
          <p className="muted">Owners and admins connect providers.</p>
        ) : (
          <>
            <ErrorNote error={providers.error} />
            {providers.data === undefined && providers.loading && <Loading what="providers" />}
            <ul className="cards">
              {providers.data?.map((p) => (
                <ProviderCard key={p.id} provider={p} onCreated={reload} />
              ))}
            </ul>
          </>
        )}
      </section>
    </>
  );
}

function ConnectionCard({
  connection: c,
  provider,
  canSync,
  canManage,
  onChanged,
}: {
  connection: Connection;
  provider?: Provider;
  canSync: boolean;
  canManage: boolean;
  onChanged: () => void;
}) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [confirming, setConfirming] = useState(false);
  const title = c.displayName || provider?.displayName || c.provider;
  const headingId = `conn-${c.id}`;
  const oauth = provider?.authKinds.includes(AuthKind.OAUTH2) ?? false;

  const act = async (what: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await what();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const sync = () =>
    act(async () => {
      const { sync } = await api.connectors.startSync({ parent: c.name });
      navigate(`/syncs?sync=${encodeURIComponent(sync?.name ?? "")}`);
    });
  const reconnect = () =>
    act(() => startOAuth(api, { provider: c.provider, account: c.account, connection: c.name }));
  const remove = () =>
    act(async () => {
      await api.connectors.deleteConnection({ name: c.name });
      onChanged();
    });

  return (
    <li className="card" aria-labelledby={headingId}>
      <h3 id={headingId}>{title}</h3>
      <p>
        <Badge tone={connectionTone(c.status)}>{connectionLabel[c.status]}</Badge>{" "}
        <span className="muted">
          {provider?.displayName ?? c.provider}
          {c.account ? ` · ${c.account}` : ""}
        </span>
      </p>
      {c.error?.message && <p className="error-text">{c.error.message}</p>}
      <p className="muted small">
        Last sync: <When ts={c.lastSyncTime} empty="never" />
      </p>
      <div className="actions">
        {canSync && c.status !== ConnectionStatus.DISABLED && c.status !== ConnectionStatus.NEEDS_REAUTH && (
          <button type="button" onClick={sync} disabled={busy} aria-describedby={headingId}>
            Sync now
          </button>
        )}
        {canManage && c.status === ConnectionStatus.NEEDS_REAUTH && oauth && (
          <button type="button" className="primary" onClick={reconnect} disabled={busy} aria-describedby={headingId}>
            Reconnect
          </button>
        )}
        {canManage &&
          (confirming ? (
            <>
              <button type="button" className="danger" onClick={remove} disabled={busy}>
                Delete {title} and its records
              </button>
              <button type="button" onClick={() => setConfirming(false)}>
                Keep it
              </button>
            </>
          ) : (
            <button type="button" onClick={() => setConfirming(true)} aria-describedby={headingId}>
              Delete…
            </button>
          ))}
        <Link href={`/records?connection=${encodeURIComponent(c.name)}&kind=${provider?.recordKinds[0] ?? ""}`}>
          Records
        </Link>
      </div>
      <ErrorNote error={error} />
    </li>
  );
}

/** What a provider needs besides the secret: Shopify's shop domain. */
const needsAccount = (provider: string) => provider === "shopify";

function ProviderCard({ provider: p, onCreated }: { provider: Provider; onCreated: () => void }) {
  const api = useApi();
  const [account, setAccount] = useState("");
  const [secret, setSecret] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const oauth = p.authKinds.includes(AuthKind.OAUTH2);
  const apiKey = p.authKinds.includes(AuthKind.API_KEY);
  const id = `provider-${p.id}`;

  const run = async (what: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await what();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  const connectOAuth = (event: FormEvent) => {
    event.preventDefault();
    void run(() => startOAuth(api, { provider: p.id, account: account.trim() }));
  };
  const connectKey = (event: FormEvent) => {
    event.preventDefault();
    void run(async () => {
      const { connection } = await api.connectors.createConnection({
        connection: { provider: p.id, account: account.trim() },
        credentials: { secret },
      });
      setSecret("");
      setBusy(false);
      onCreated();
      navigate(`/connections?connected=${encodeURIComponent(connection?.name ?? "")}`, { replace: true });
    });
  };
  const accountField = needsAccount(p.id) && (
    <>
      <label htmlFor={`${id}-account`}>Shop domain</label>
      <input
        id={`${id}-account`}
        required
        placeholder="your-shop.myshopify.com"
        autoCapitalize="none"
        spellCheck={false}
        value={account}
        onChange={(e) => setAccount(e.target.value)}
      />
    </>
  );

  return (
    <li className="card" aria-labelledby={id}>
      <h3 id={id}>{p.displayName}</h3>
      <p className="muted small">Syncs {p.recordKinds.join(", ") || "no records"}.</p>
      {oauth && (
        <form onSubmit={connectOAuth} aria-label={`Connect ${p.displayName} with OAuth`}>
          {accountField}
          <button type="submit" className="primary" disabled={busy}>
            Connect {p.displayName}
          </button>
        </form>
      )}
      {apiKey && (
        <details open={!oauth}>
          <summary>{oauth ? "Or use an API key" : "Connect with an API key"}</summary>
          <form onSubmit={connectKey} aria-label={`Connect ${p.displayName} with an API key`}>
            {!oauth && accountField}
            {oauth && needsAccount(p.id) && (
              <p className="hint">Uses the shop domain above.</p>
            )}
            <label htmlFor={`${id}-secret`}>{p.id === "shopify" ? "Admin API access token" : "Secret key"}</label>
            <input
              id={`${id}-secret`}
              type="password"
              autoComplete="off"
              required
              value={secret}
              onChange={(e) => setSecret(e.target.value)}
            />
            <button type="submit" disabled={busy}>
              Connect with this key
            </button>
          </form>
        </details>
      )}
      <ErrorNote error={error} />
    </li>
  );
}
