// The synced records, one kind at a time, filtered with AIP-160 (QueryRecords). The query lives in the address
// (`?kind=charge&provider=stripe&filter=...`), so citations and links open the browser already filtered, and
// Back returns to the previous query.

import { useEffect, useState, type FormEvent } from "react";
import { useApi } from "../app/context";
import { navigate, useLocation } from "../app/router";
import { useQuery } from "../app/useQuery";
import { ErrorNote, Json, Loading, PageHeading, When } from "../components/ui";

const PAGE_SIZE = 25;

export default function Records() {
  const api = useApi();
  const { query } = useLocation();
  const providers = useQuery(async (signal) => (await api.connectors.listProviders({}, { signal })).providers, "providers");
  const kinds = [...new Set((providers.data ?? []).flatMap((p) => p.recordKinds))].sort();
  const current = {
    kind: query.get("kind") || "",
    provider: query.get("provider") ?? "",
    connection: query.get("connection") ?? "",
    filter: query.get("filter") ?? "",
    orderBy: query.get("order_by") ?? "",
  };
  const kind = current.kind || kinds[0] || "";
  const [draft, setDraft] = useState(current);
  // Tokens of the pages before the one shown, for Previous.
  const [pages, setPages] = useState<string[]>([]);
  const [pageToken, setPageToken] = useState("");
  const address = query.toString();
  // A new address (Back, a link): the form shows its query, from its first page.
  useEffect(() => {
    setDraft(current);
    setPages([]);
    setPageToken("");
  }, [address]);
  const key = JSON.stringify({ ...current, kind, pageToken });
  const records = useQuery(
    async (signal) =>
      kind
        ? api.connectors.queryRecords(
            {
              kind,
              provider: current.connection ? "" : current.provider,
              connection: current.connection,
              filter: current.filter,
              orderBy: current.orderBy,
              pageSize: PAGE_SIZE,
              pageToken,
            },
            { signal },
          )
        : undefined,
    key,
  );

  const search = (event: FormEvent) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries({ ...draft, kind: draft.kind || kind })) {
      if (value) params.set(name === "orderBy" ? "order_by" : name, value);
    }
    setPages([]);
    setPageToken("");
    navigate(`/records?${params.toString()}`);
  };
  const list = records.data?.records ?? [];

  return (
    <>
      <PageHeading>Records</PageHeading>
      <form className="filters" onSubmit={search} aria-label="Query records">
        <div className="field">
          <label htmlFor="kind">Kind</label>
          <select id="kind" value={draft.kind || kind} onChange={(e) => setDraft({ ...draft, kind: e.target.value })}>
            {[...new Set([...kinds, kind].filter(Boolean))].map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="provider">Provider</label>
          <select
            id="provider"
            value={draft.provider}
            onChange={(e) => setDraft({ ...draft, provider: e.target.value, connection: "" })}
          >
            <option value="">Any</option>
            {(providers.data ?? []).map((p) => (
              <option key={p.id} value={p.id}>
                {p.displayName}
              </option>
            ))}
          </select>
        </div>
        <div className="field wide">
          <label htmlFor="filter">Filter</label>
          <input
            id="filter"
            value={draft.filter}
            spellCheck={false}
            autoCapitalize="none"
            placeholder='status = "succeeded" AND amount > 1000'
            aria-describedby="filter-hint"
            onChange={(e) => setDraft({ ...draft, filter: e.target.value })}
          />
          <p id="filter-hint" className="hint">
            Fields of the record's data, compared with <code>=</code>, <code>!=</code>, <code>&lt;</code>,{" "}
            <code>&gt;</code>, <code>:</code> and joined with <code>AND</code>, <code>OR</code>, <code>NOT</code>.
          </p>
        </div>
        <div className="field">
          <label htmlFor="order">Order by</label>
          <input
            id="order"
            value={draft.orderBy}
            spellCheck={false}
            autoCapitalize="none"
            placeholder="update_time desc"
            onChange={(e) => setDraft({ ...draft, orderBy: e.target.value })}
          />
        </div>
        <button type="submit" className="primary">
          Search
        </button>
      </form>
      {current.connection && <p className="muted small">Only records of {current.connection}.</p>}
      <ErrorNote error={records.error ?? providers.error} />
      {records.loading && records.data === undefined && <Loading what="records" />}
      <section aria-labelledby="results" aria-busy={records.loading}>
        <h2 id="results" className="h3">
          {records.data ? `${list.length} ${kind} record${list.length === 1 ? "" : "s"}${records.data.nextPageToken ? " on this page" : ""}` : "Results"}
        </h2>
        <ul className="records">
          {list.map((r) => (
            <li key={`${r.connection}/${r.id}`}>
              <details open={list.length === 1}>
                <summary>
                  <code>{r.id}</code> <span className="muted small">{r.provider}</span>{" "}
                  <span className="muted small">
                    updated <When ts={r.updateTime} />
                  </span>
                </summary>
                <Json value={r.data} />
              </details>
            </li>
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
            Previous page
          </button>
          <button
            type="button"
            disabled={!records.data?.nextPageToken}
            onClick={() => {
              setPages([...pages, pageToken]);
              setPageToken(records.data?.nextPageToken ?? "");
            }}
          >
            Next page
          </button>
        </div>
      </section>
    </>
  );
}
