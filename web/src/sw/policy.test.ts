import { describe, expect, it } from "vitest";
import { handling, isApiPath, isCacheable, type RequestLike } from "./policy";

const origin = "https://console.example";

function req(path: string, init: { method?: string; mode?: string; headers?: Record<string, string> } = {}): RequestLike {
  const headers = new Headers(init.headers);
  return { method: init.method ?? "GET", url: new URL(path, origin).toString(), mode: init.mode, headers };
}

describe("service worker policy", () => {
  it("never handles gRPC-Web calls", () => {
    const call = req("/switchboard.auth.v1.AuthService/WhoAmI", {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto" },
    });
    expect(handling(call, origin)).toBe("network");
    // Even a GET with a gRPC content type, on any path.
    expect(handling(req("/assets/x.js", { headers: { "content-type": "application/grpc-web-text" } }), origin)).toBe("network");
    expect(handling(req("/grpc.health.v1.Health/Check", { method: "POST" }), origin)).toBe("network");
  });

  it("never handles REST, OpenAPI or JWKS", () => {
    for (const path of ["/v1/connections", "/v1/records:query", "/v1/auth/me", "/openapi.json", "/.well-known/jwks.json"]) {
      expect(isApiPath(new URL(path, origin).pathname)).toBe(true);
      expect(handling(req(path), origin)).toBe("network");
      expect(handling(req(path, { mode: "navigate" }), origin)).toBe("network");
    }
  });

  it("serves the shell from the cache", () => {
    for (const path of ["/assets/index-abc123.js", "/assets/index-abc.css", "/icons/icon-192.png", "/manifest.webmanifest", "/offline.html"]) {
      expect(handling(req(path), origin)).toBe("shell");
    }
  });

  it("loads pages from the network (offline page as the fallback)", () => {
    expect(handling(req("/connections", { mode: "navigate" }), origin)).toBe("navigation");
    expect(handling(req("/oauth/callback?code=c&state=s", { mode: "navigate" }), origin)).toBe("navigation");
  });

  it("leaves other origins and other methods alone", () => {
    expect(handling(req("https://cdn.example/assets/a.js"), origin)).toBe("network");
    expect(handling(req("/assets/a.js", { method: "POST" }), origin)).toBe("network");
    expect(handling(req("/something-else.json"), origin)).toBe("network");
  });

  it("stores only plain successful same-origin responses", () => {
    const response = (status: number, type: string, contentType: string) => ({
      ok: status >= 200 && status < 300,
      status,
      type,
      headers: new Headers({ "content-type": contentType }),
    });
    expect(isCacheable(response(200, "basic", "text/javascript"))).toBe(true);
    expect(isCacheable(response(200, "basic", "application/manifest+json"))).toBe(true);
    expect(isCacheable(response(200, "basic", "application/grpc-web+proto"))).toBe(false);
    expect(isCacheable(response(200, "basic", "application/json"))).toBe(false);
    expect(isCacheable(response(206, "basic", "text/javascript"))).toBe(false);
    expect(isCacheable(response(404, "basic", "text/html"))).toBe(false);
    expect(isCacheable(response(200, "opaque", "text/javascript"))).toBe(false);
  });
});
