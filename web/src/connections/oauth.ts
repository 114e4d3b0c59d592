// The browser's half of OAuth: StartOAuth names the provider's authorization page and the browser goes there; the
// provider sends it back to /oauth/callback with `code`, `state` and its own parameters (QuickBooks `realmId`,
// Shopify `shop`, `hmac`, ...), which CompleteOAuth checks and exchanges. The state binds the round trip to this
// tenant and user on the server; the console keeps nothing but the refresh token (sessionStorage) across it.

import type { Api } from "../api/clients";

/** The redirect URI the platform allowlists by default: `<public url>/oauth/callback`. */
export function redirectUri(origin = window.location.origin): string {
  return `${origin}/oauth/callback`;
}

/** Starts an authorization and leaves the page for the provider's. Resolves only if leaving fails. */
export async function startOAuth(
  api: Api,
  request: { provider: string; account?: string; connection?: string },
  go: (url: string) => void = (url) => window.location.assign(url),
): Promise<void> {
  const response = await api.connectors.startOAuth({
    provider: request.provider,
    redirectUri: redirectUri(),
    account: request.account ?? "",
    connection: request.connection ?? "",
  });
  go(response.authorizationUrl);
}

/** What the provider's redirect carries: CompleteOAuth's `state` and `code`, and every other parameter as-is. */
export interface Callback {
  state: string;
  code: string;
  params: Record<string, string>;
  /** The provider's refusal (`error`, `error_description`), when the person declined or it failed. */
  error?: string;
}

export function parseCallback(query: URLSearchParams): Callback {
  const params: Record<string, string> = {};
  for (const [key, value] of query) {
    if (key !== "state" && key !== "code") params[key] = value;
  }
  const refusal = query.get("error");
  return {
    state: query.get("state") ?? "",
    code: query.get("code") ?? "",
    params,
    error: refusal ? [refusal, query.get("error_description")].filter(Boolean).join(": ") : undefined,
  };
}
