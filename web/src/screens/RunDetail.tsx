// One stored run (GetRun): its plan, steps with inputs and outputs, and answer. A run still going is asked for
// again every three seconds, and can be followed live on the Ask screen.

import { useApi } from "../app/context";
import { Link } from "../app/router";
import { useQuery } from "../app/useQuery";
import { RunPanel } from "../ask/RunPanel";
import { fromRun, isFinished } from "../ask/runState";
import { ErrorNote, Loading, PageHeading, When } from "../components/ui";

export default function RunDetail({ param }: { param: string }) {
  const api = useApi();
  const run = useQuery(
    async (signal) => (await api.orchestrator.getRun({ name: `runs/${param}` }, { signal })).run,
    param,
    { pollMs: 3000, poll: (r) => !r || !isFinished(r.status) },
  );
  const data = run.data;
  return (
    <>
      <PageHeading>{data?.question || "Run"}</PageHeading>
      <p className="muted small">
        <Link href="/runs">All runs</Link>
        {data && (
          <>
            {" · "}asked <When ts={data.createTime} />
            {data.endTime && (
              <>
                {" · "}finished <When ts={data.endTime} />
              </>
            )}
          </>
        )}
        {data && !isFinished(data.status) && (
          <>
            {" · "}
            <Link href={`/ask?run=${param}`}>Follow live</Link>
          </>
        )}
      </p>
      <ErrorNote error={run.error} />
      {run.loading && !data && <Loading what="the run" />}
      {data && <RunPanel view={fromRun(data)} onReviewed={run.reload} />}
    </>
  );
}
