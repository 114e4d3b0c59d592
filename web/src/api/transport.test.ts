import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it, vi } from "vitest";
import { AuthService } from "../gen/switchboard/auth/v1/auth_pb";
import { OrchestratorService } from "../gen/switchboard/orchestrator/v1/orchestrator_pb";
import { Session, type AuthApi } from "../session/session";
import { authInterceptor } from "./transport";

function signedIn() {
  let n = 0;
  const auth = {
    login: vi.fn(async () => ({ accessToken: "at-0", refreshToken: "rt-0", expiresIn: 900 })),
    refresh: vi.fn(async () => {
      n += 1;
      return { accessToken: `at-${n}`, refreshToken: `rt-${n}`, expiresIn: 900 };
    }),
    logout: vi.fn(async () => ({})),
  } satisfies AuthApi;
  const session = new Session(auth, window.sessionStorage);
  return { auth, session, ready: session.signIn("demo", "e", "p") };
}

describe("authInterceptor", () => {
  it("sends the access token, and on UNAUTHENTICATED rotates once and retries", async () => {
    const { auth, session, ready } = signedIn();
    await ready;
    const seen: string[] = [];
    const transport = createRouterTransport(
      ({ service }) => {
        service(AuthService, {
          whoAmI(_req, ctx) {
            const header = ctx.requestHeader.get("authorization") ?? "";
            seen.push(header);
            // The first token has been revoked by the gateway (its session rotated elsewhere, or it expired early).
            if (header === "Bearer at-0") throw new ConnectError("token expired", Code.Unauthenticated);
            return { user: { email: "owner@demo.example" } };
          },
        });
      },
      { transport: { interceptors: [authInterceptor(session)] } },
    );
    const me = await createClient(AuthService, transport).whoAmI({});
    expect(me.user?.email).toBe("owner@demo.example");
    expect(seen).toEqual(["Bearer at-0", "Bearer at-1"]);
    expect(auth.refresh).toHaveBeenCalledTimes(1);
  });

  it("gives up after one retry and ends the session when the refresh is refused", async () => {
    const { auth, session, ready } = signedIn();
    await ready;
    auth.refresh.mockRejectedValueOnce(new ConnectError("invalid refresh token", Code.Unauthenticated));
    let calls = 0;
    const transport = createRouterTransport(
      ({ service }) => {
        service(AuthService, {
          whoAmI() {
            calls += 1;
            throw new ConnectError("revoked", Code.Unauthenticated);
          },
        });
      },
      { transport: { interceptors: [authInterceptor(session)] } },
    );
    await expect(createClient(AuthService, transport).whoAmI({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    expect(calls).toBe(1);
    expect(session.current()).toEqual({ status: "signed-out", reason: "expired" });
  });

  it("does not retry other errors", async () => {
    const { auth, session, ready } = signedIn();
    await ready;
    const transport = createRouterTransport(
      ({ service }) => {
        service(AuthService, {
          whoAmI() {
            throw new ConnectError("no", Code.PermissionDenied);
          },
        });
      },
      { transport: { interceptors: [authInterceptor(session)] } },
    );
    await expect(createClient(AuthService, transport).whoAmI({})).rejects.toMatchObject({ code: Code.PermissionDenied });
    expect(auth.refresh).not.toHaveBeenCalled();
  });

  it("sends Login, Refresh and Logout without a token", async () => {
    const { session, ready } = signedIn();
    await ready;
    const headers: (string | null)[] = [];
    const transport = createRouterTransport(
      ({ service }) => {
        service(AuthService, {
          login(_req, ctx) {
            headers.push(ctx.requestHeader.get("authorization"));
            return {};
          },
        });
      },
      { transport: { interceptors: [authInterceptor(session)] } },
    );
    await createClient(AuthService, transport).login({ tenant: "demo", email: "e", password: "p" });
    expect(headers).toEqual([null]);
  });

  it("re-sends a server-streaming request (Ask) with its message after rotating", async () => {
    const { session, ready } = signedIn();
    await ready;
    const questions: string[] = [];
    const transport = createRouterTransport(
      ({ service }) => {
        service(OrchestratorService, {
          async *ask(req, ctx) {
            questions.push(`${ctx.requestHeader.get("authorization")} ${req.question}`);
            if (ctx.requestHeader.get("authorization") === "Bearer at-0")
              throw new ConnectError("expired", Code.Unauthenticated);
            yield { run: "runs/1", sequence: 1n };
          },
        });
      },
      { transport: { interceptors: [authInterceptor(session)] } },
    );
    const events = [];
    for await (const e of createClient(OrchestratorService, transport).ask({ question: "revenue?" })) events.push(e);
    expect(events.map((e) => e.run)).toEqual(["runs/1"]);
    expect(questions).toEqual(["Bearer at-0 revenue?", "Bearer at-1 revenue?"]);
  });
});
