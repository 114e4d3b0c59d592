// Where providers send the browser back after an authorization: completes it once (a state is single-use, so a
// second render or a reload must not send it again), then goes to the connections with the new one named.

import { useEffect, useState } from "react";
import type { Api } from "../api/clients";
import { useApi } from "../app/context";
import { Link, navigate, useLocation } from "../app/router";
import { ErrorNote, PageHeading } from "../components/ui";
import { parseCallback } from "../connections/oauth";
import type { CompleteOAuthResponse } from "../gen/switchboard/connectors/v1/connectors_pb";

/** Completions already sent by this page, by state. */
const sent = new Map<string, Promise<CompleteOAuthResponse>>();

function completeOnce(api: Api, state: string, code: string, params: Record<string, string>) {
  let call = sent.get(state);
  if (!call) {
    call = api.connectors.completeOAuth({ state, code, params });
    sent.set(state, call);
  }
  return call;
}

export default function OAuthCallback() {
  const api = useApi();
  const { query } = useLocation();
  const [callback] = useState(() => parseCallback(query));
  const [error, setError] = useState<unknown>();

  useEffect(() => {
    if (callback.error || !callback.state || !callback.code) return;
    let live = true;
    completeOnce(api, callback.state, callback.code, callback.params).then(
      ({ connection }) => {
        if (live) navigate(`/connections?connected=${encodeURIComponent(connection?.name ?? "")}`, { replace: true });
      },
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [api, callback]);

  const problem = callback.error
    ? `The provider did not authorize the connection (${callback.error}).`
    : !callback.state || !callback.code
      ? "This address is missing the provider's code or state."
      : undefined;
  return (
    <>
      <PageHeading>Connecting…</PageHeading>
      {problem ? (
        <p className="error" role="alert">
          {problem}
        </p>
      ) : error ? (
        <ErrorNote error={error} prefix="The connection could not be completed" />
      ) : (
        <p role="status">Finishing the connection with the provider…</p>
      )}
      {(problem || error) && (
        <p>
          <Link href="/connections">Back to connections</Link>
        </p>
      )}
    </>
  );
}
