import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { Role } from "../gen/switchboard/auth/v1/auth_pb";
import {
  AuthKind,
  ConnectionStatus,
  ConnectorService,
  type CompleteOAuthRequest,
} from "../gen/switchboard/connectors/v1/connectors_pb";
import {
  OrchestratorService,
  type UpdateAssistantSettingsRequest,
} from "../gen/switchboard/orchestrator/v1/orchestrator_pb";
import { renderAs } from "../test/render";
import Connections from "./Connections";
import OAuthCallback from "./OAuthCallback";
import Settings from "./Settings";

const providers = [
  { id: "stripe", displayName: "Stripe", authKinds: [AuthKind.OAUTH2, AuthKind.API_KEY], recordKinds: ["charge"] },
  { id: "shopify", displayName: "Shopify", authKinds: [AuthKind.OAUTH2, AuthKind.API_KEY], recordKinds: ["order"] },
];
const connections = [
  { name: "connections/c1", id: "c1", provider: "stripe", account: "acct_1", status: ConnectionStatus.ACTIVE },
  { name: "connections/c2", id: "c2", provider: "quickbooks", account: "123", status: ConnectionStatus.NEEDS_REAUTH },
];

describe("Connections", () => {
  it("lets admins connect and members only sync", async () => {
    const routes = (router: Parameters<NonNullable<Parameters<typeof renderAs>[2]>>[0]) =>
      router.service(ConnectorService, {
        listProviders: () => ({ providers }),
        listConnections: () => ({ connections }),
      });
    const member = renderAs(Role.MEMBER, <Connections />, routes);
    expect(await screen.findByRole("heading", { name: "Stripe" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Sync now" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /^Connect / })).toBeNull();
    expect(screen.queryByRole("button", { name: "Delete…" })).toBeNull();
    expect(screen.getByText("Owners and admins connect providers.")).toBeInTheDocument();
    member.unmount();

    renderAs(Role.ADMIN, <Connections />, routes);
    expect(await screen.findByRole("button", { name: "Connect Stripe" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Connect Shopify" })).toBeInTheDocument();
    expect(screen.getAllByRole("button", { name: "Delete…" })).toHaveLength(2);
    // The connection that needs re-authorization gets no Sync button; its provider is not listed, so no OAuth.
    expect(screen.getAllByRole("button", { name: "Sync now" })).toHaveLength(1);
  });

  it("starts OAuth with the console's callback and the Shopify shop", async () => {
    const startOAuth = vi.fn(() => ({ authorizationUrl: "http://sandbox/authorize?state=s1", state: "s1" }));
    const assign = vi.fn();
    vi.spyOn(window, "location", "get").mockReturnValue({ ...window.location, origin: "http://127.0.0.1:8080", assign } as Location);
    renderAs(Role.OWNER, <Connections />, (router) =>
      router.service(ConnectorService, {
        listProviders: () => ({ providers }),
        listConnections: () => ({ connections: [] }),
        startOAuth,
      }),
    );
    await userEvent.type(await screen.findByLabelText("Shop domain"), "demo-shop.myshopify.com");
    await userEvent.click(screen.getByRole("button", { name: "Connect Shopify" }));
    await waitFor(() => expect(assign).toHaveBeenCalledWith("http://sandbox/authorize?state=s1"));
    expect(startOAuth.mock.calls[0]).toEqual([
      expect.objectContaining({
        provider: "shopify",
        account: "demo-shop.myshopify.com",
        redirectUri: "http://127.0.0.1:8080/oauth/callback",
      }),
      expect.anything(),
    ]);
  });
});

describe("OAuthCallback", () => {
  it("completes the authorization once with code, state and the provider's other parameters", async () => {
    window.history.replaceState(null, "", "/oauth/callback?code=ac_1&state=st_1&realmId=9130&scope=x");
    const completeOAuth = vi.fn((_req: CompleteOAuthRequest) => ({ connection: { name: "connections/new" } }));
    renderAs(Role.ADMIN, <OAuthCallback />, (router) => router.service(ConnectorService, { completeOAuth }));
    await waitFor(() => expect(window.location.pathname + window.location.search).toBe("/connections?connected=connections%2Fnew"));
    expect(completeOAuth).toHaveBeenCalledTimes(1);
    expect(completeOAuth.mock.calls[0][0]).toMatchObject({ code: "ac_1", state: "st_1", params: { realmId: "9130", scope: "x" } });
  });

  it("shows the provider's refusal and calls nothing", async () => {
    window.history.replaceState(null, "", "/oauth/callback?error=access_denied&error_description=The+user+denied&state=s");
    const completeOAuth = vi.fn();
    renderAs(Role.ADMIN, <OAuthCallback />, (router) => router.service(ConnectorService, { completeOAuth }));
    expect(screen.getByRole("alert")).toHaveTextContent("access_denied: The user denied");
    expect(completeOAuth).not.toHaveBeenCalled();
  });
});

describe("Settings", () => {
  const routes = (update = vi.fn((req: UpdateAssistantSettingsRequest) => ({ settings: req.settings }))) =>
    (router: Parameters<NonNullable<Parameters<typeof renderAs>[2]>>[0]) => {
      router.service(OrchestratorService, {
        getAssistantSettings: () => ({
          settings: { name: "assistantSettings", providers: ["offline/rules"], runsPerMinute: 60, monthlyTokenBudget: 0n },
        }),
        updateAssistantSettings: update,
      });
      router.service(ConnectorService, {
        listActions: () => ({ actions: [{ name: "stripe.refund.create", needsApproval: true }] }),
      });
    };

  it.each([Role.MEMBER, Role.VIEWER])("is read-only for %s", async (role) => {
    renderAs(role, <Settings />, routes());
    expect(await screen.findByLabelText("Questions per minute")).toBeDisabled();
    expect(screen.getByLabelText("Model providers, in order")).toBeDisabled();
    expect(screen.queryByRole("button", { name: "Save" })).toBeNull();
    expect(screen.getByTestId("read-only")).toBeInTheDocument();
  });

  it("sends only what an admin changed, named in the update mask", async () => {
    const update = vi.fn((req: UpdateAssistantSettingsRequest) => ({ settings: req.settings }));
    renderAs(Role.ADMIN, <Settings />, routes(update));
    const rpm = await screen.findByLabelText("Questions per minute");
    await userEvent.clear(rpm);
    await userEvent.type(rpm, "30");
    await userEvent.click(screen.getByLabelText("stripe.refund.create"));
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(update).toHaveBeenCalledTimes(1));
    expect(update.mock.calls[0][0]).toMatchObject({
      updateMask: { paths: ["auto_approve_actions", "runs_per_minute"] },
      settings: { runsPerMinute: 30, autoApproveActions: ["stripe.refund.create"] },
    });
  });
});
