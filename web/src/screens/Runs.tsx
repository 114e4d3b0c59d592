// The tenant's runs, newest first (ListRuns), with their state; each opens its detail.

import { useState } from "react";
import { useApi } from "../app/context";
import { Link } from "../app/router";
import { useQuery } from "../app/useQuery";
import { runLabel, runTone } from "../ask/RunPanel";
import { Badge, ErrorNote, Loading, PageHeading, When } from "../components/ui";
import { RunStatus } from "../gen/switchboard/orchestrator/v1/orchestrator_pb";

const PAGE_SIZE = 25;
const FILTERS: RunStatus[] = [
  RunStatus.UNSPECIFIED,
  RunStatus.AWAITING_APPROVAL,
  RunStatus.RUNNING,
  RunStatus.SUCCEEDED,
  RunStatus.FAILED,
  RunStatus.CANCELLED,
];

export default function Runs() {
  const api = useApi();
  const [status, setStatus] = useState(RunStatus.UNSPECIFIED);
  const [mine, setMine] = useState(false);
  const [pages, setPages] = useState<string[]>([]);
  const [pageToken, setPageToken] = useState("");
  const runs = useQuery(
    (signal) =>
      api.orchestrator.listRuns({ pageSize: PAGE_SIZE, pageToken, status, creator: mine ? "me" : "" }, { signal }),
    `${status}-${mine}-${pageToken}`,
  );
  const restart = () => {
    setPages([]);
    setPageToken("");
  };

  return (
    <>
      <PageHeading>Runs</PageHeading>
      <form className="filters" aria-label="Filter runs" onSubmit={(e) => e.preventDefault()}>
        <div className="field">
          <label htmlFor="run-status">State</label>
          <select
            id="run-status"
            value={status}
            onChange={(e) => {
              setStatus(Number(e.target.value) as RunStatus);
              restart();
            }}
          >
            {FILTERS.map((s) => (
              <option key={s} value={s}>
                {s === RunStatus.UNSPECIFIED ? "Any" : runLabel[s]}
              </option>
            ))}
          </select>
        </div>
        <div className="field checkbox">
          <input
            id="mine"
            type="checkbox"
            checked={mine}
            onChange={(e) => {
              setMine(e.target.checked);
              restart();
            }}
          />
          <label htmlFor="mine">Only mine</label>
        </div>
      </form>
      <ErrorNote error={runs.error} />
      {runs.loading && runs.data === undefined && <Loading what="runs" />}
      {runs.data?.runs.length === 0 && <p>No runs yet. <Link href="/ask">Ask something.</Link></p>}
      <ul className="cards" aria-label="Runs">
        {runs.data?.runs.map((run) => (
          <li key={run.name} className="card">
            <h2 className="h3">
              <Link href={`/runs/${run.id}`}>{run.question || run.name}</Link>
            </h2>
            <p>
              <Badge tone={runTone(run.status)}>{runLabel[run.status]}</Badge>{" "}
              <span className="muted small">
                <When ts={run.createTime} /> · {run.model}
              </span>
            </p>
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
          disabled={!runs.data?.nextPageToken}
          onClick={() => {
            setPages([...pages, pageToken]);
            setPageToken(runs.data?.nextPageToken ?? "");
          }}
        >
          Next page
        </button>
      </div>
    </>
  );
}
