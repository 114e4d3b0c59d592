import { Code, ConnectError, createClient, createRouterTransport, type ConnectRouter } from "@connectrpc/connect";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { createApi } from "../api/clients";
import { authInterceptor } from "../api/transport";
import { AuthService, Role } from "../gen/switchboard/auth/v1/auth_pb";
import { ConnectorService } from "../gen/switchboard/connectors/v1/connectors_pb";
import { OrchestratorService } from "../gen/switchboard/orchestrator/v1/orchestrator_pb";
import { REFRESH_KEY, Session } from "../session/session";
import { App } from "./App";

/** A gateway in-process: a demo owner, tokens that rotate, and empty lists elsewhere. */
function platform() {
  const calls: string[] = [];
  let n = 0;
  const grant = () => {
    n += 1;
    return { accessToken: `at-${n}`, refreshToken: `rt-${n}`, expiresIn: 900, tokenType: "Bearer" };
  };
  const routes = (router: ConnectRouter) => {
    router.service(AuthService, {
      login(req) {
        calls.push(`login ${req.tenant} ${req.email}`);
        if (req.password !== "demo-password-1") throw new ConnectError("invalid credentials", Code.Unauthenticated);
        return grant();
      },
      refresh(req) {
        calls.push(`refresh ${req.refreshToken}`);
        if (req.refreshToken !== "rt-saved") throw new ConnectError("invalid refresh token", Code.Unauthenticated);
        return grant();
      },
      logout(req) {
        calls.push(`logout ${req.refreshToken}`);
        return {};
      },
      whoAmI(_req, ctx) {
        calls.push(`whoami ${ctx.requestHeader.get("authorization")}`);
        return {
          user: { id: "u1", email: "owner@demo.example", role: Role.OWNER },
          tenant: { slug: "demo", displayName: "Demo shop" },
          roles: [Role.OWNER],
        };
      },
    });
    router.service(ConnectorService, {
      listConnections: () => ({ connections: [] }),
      listSyncs: () => ({ syncs: [] }),
    });
    router.service(OrchestratorService, { listRuns: () => ({ runs: [] }) });
  };
  const session = new Session(createClient(AuthService, createRouterTransport(routes)), window.sessionStorage);
  const api = createApi(createRouterTransport(routes, { transport: { interceptors: [authInterceptor(session)] } }));
  return { calls, session, api };
}

describe("App", () => {
  it("signs in with workspace, email and password, then shows the workspace and the role", async () => {
    const { calls, api, session } = platform();
    render(<App services={{ api, session }} />);
    expect(screen.getByRole("heading", { name: "Sign in" })).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText("Workspace"), "demo");
    await userEvent.type(screen.getByLabelText("Email"), "owner@demo.example");
    await userEvent.type(screen.getByLabelText("Password"), "demo-password-1");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(screen.getByTestId("role")).toHaveTextContent("owner"));
    expect(screen.getByRole("navigation", { name: "Main" })).toBeInTheDocument();
    expect(screen.getByRole("main")).toBeInTheDocument();
    expect(calls[0]).toBe("login demo owner@demo.example");
    expect(calls).toContain("whoami Bearer at-1");
    expect(window.sessionStorage.getItem(REFRESH_KEY)).toBe("rt-1");
  });

  it("says why a sign-in failed", async () => {
    const { api, session } = platform();
    render(<App services={{ api, session }} />);
    await userEvent.type(screen.getByLabelText("Workspace"), "demo");
    await userEvent.type(screen.getByLabelText("Email"), "owner@demo.example");
    await userEvent.type(screen.getByLabelText("Password"), "wrong");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("invalid credentials");
    expect(window.sessionStorage.getItem(REFRESH_KEY)).toBeNull();
  });

  it("picks the session up again after a reload, from this tab's refresh token", async () => {
    window.sessionStorage.setItem(REFRESH_KEY, "rt-saved");
    const { calls, api, session } = platform();
    render(<App services={{ api, session }} />);
    expect(screen.getByRole("status")).toHaveTextContent("Signing you back in");
    await waitFor(() => expect(screen.getByTestId("role")).toHaveTextContent("owner"));
    expect(calls.filter((c) => c.startsWith("refresh"))).toEqual(["refresh rt-saved"]);
    expect(screen.queryByRole("heading", { name: "Sign in" })).toBeNull();
  });

  it("goes back to sign-in when the stored session was revoked", async () => {
    window.sessionStorage.setItem(REFRESH_KEY, "rt-reused");
    const { api, session } = platform();
    render(<App services={{ api, session }} />);
    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeInTheDocument();
    expect(window.sessionStorage.getItem(REFRESH_KEY)).toBeNull();
  });

  it("signs out at the gateway", async () => {
    window.sessionStorage.setItem(REFRESH_KEY, "rt-saved");
    const { calls, api, session } = platform();
    const signOut = vi.spyOn(session, "signOut");
    render(<App services={{ api, session }} />);
    await userEvent.click(await screen.findByRole("button", { name: "Sign out" }));
    expect(signOut).toHaveBeenCalled();
    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeInTheDocument();
    await waitFor(() => expect(calls).toContain("logout rt-1"));
  });
});
