// Renders a screen or component as a signed-in user of a given role, against fake services answered in-process
// (connect's router transport: the same generated clients and request types as against the gateway).

import { create } from "@bufbuild/protobuf";
import { createRouterTransport, type ConnectRouter } from "@connectrpc/connect";
import { render } from "@testing-library/react";
import type { ReactNode } from "react";
import { vi } from "vitest";
import { createApi } from "../api/clients";
import { MeContext, ServicesContext, type Me } from "../app/context";
import { Role, WhoAmIResponseSchema } from "../gen/switchboard/auth/v1/auth_pb";
import { Session } from "../session/session";

export function fakeSession(): Session {
  return new Session(
    {
      login: vi.fn(async () => ({ accessToken: "at", refreshToken: "rt", expiresIn: 900 })),
      refresh: vi.fn(async () => ({ accessToken: "at2", refreshToken: "rt2", expiresIn: 900 })),
      logout: vi.fn(async () => ({})),
    },
    window.sessionStorage,
  );
}

export function me(role: Role, userId = "user-1"): Me {
  return {
    role,
    userId,
    whoami: create(WhoAmIResponseSchema, {
      user: { id: userId, email: "someone@demo.example", role },
      tenant: { slug: "demo", displayName: "Demo shop" },
      roles: [role],
    }),
  };
}

export function renderAs(role: Role, ui: ReactNode, routes: (router: ConnectRouter) => void = () => {}, userId = "user-1") {
  const api = createApi(createRouterTransport(routes));
  const services = { api, session: fakeSession() };
  const result = render(
    <ServicesContext.Provider value={services}>
      <MeContext.Provider value={me(role, userId)}>{ui}</MeContext.Provider>
    </ServicesContext.Provider>,
  );
  return { ...result, services };
}
