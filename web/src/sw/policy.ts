// What the service worker does with a request. Pure, so it is tested apart from the worker (policy.test.ts).
//
// The rule: only the app shell is ever cached. Every API call — REST under `/v1/`, gRPC-Web (POSTs of
// `application/grpc-web*` to `/switchboard.*` and `/grpc.*`), the OpenAPI document, JWKS — goes to the network
// untouched, and nothing it answers is stored.

export type Handling =
  /** Not touched: the browser fetches it as if there were no worker. */
  | "network"
  /** A shell file (hashed asset, icon, offline page): from the cache, else the network (and then cached). */
  | "shell"
  /** A page load: the network, else the offline page. */
  | "navigation";

export interface RequestLike {
  method: string;
  url: string;
  mode?: string;
  headers: { get(name: string): string | null };
}

/** Paths of the public API on the gateway's port: never cached, never answered from a cache. */
export function isApiPath(path: string): boolean {
  return (
    path === "/v1" ||
    path.startsWith("/v1/") ||
    path.startsWith("/switchboard.") ||
    path.startsWith("/grpc.") ||
    path === "/openapi.json" ||
    path.startsWith("/.well-known/")
  );
}

function isGrpc(contentType: string | null): boolean {
  return (contentType ?? "").toLowerCase().startsWith("application/grpc");
}

/** Shell files outside `/assets/` (which holds the hashed build output). */
const SHELL_FILES = new Set(["/offline.html", "/offline.css", "/manifest.webmanifest"]);

export function handling(request: RequestLike, origin: string): Handling {
  if (request.method !== "GET") return "network";
  const url = new URL(request.url);
  if (url.origin !== origin) return "network";
  if (isApiPath(url.pathname) || isGrpc(request.headers.get("content-type")) || isGrpc(request.headers.get("accept")))
    return "network";
  if (request.mode === "navigate") return "navigation";
  if (url.search === "" && (url.pathname.startsWith("/assets/") || url.pathname.startsWith("/icons/") || SHELL_FILES.has(url.pathname)))
    return "shell";
  return "network";
}

/** Whether a response to a shell request may be stored: a complete, same-origin success that is not an API answer. */
export function isCacheable(response: { ok: boolean; status: number; type: string; headers: { get(name: string): string | null } }): boolean {
  const contentType = (response.headers.get("content-type") ?? "").toLowerCase();
  return (
    response.ok &&
    response.status === 200 &&
    response.type === "basic" &&
    !isGrpc(contentType) &&
    !contentType.startsWith("application/json")
  );
}
