// What every screen needs: the API clients, the session, and who is signed in (WhoAmI).

import { createContext, useContext } from "react";
import type { Api } from "../api/clients";
import type { Role, WhoAmIResponse } from "../gen/switchboard/auth/v1/auth_pb";
import type { Session } from "../session/session";

export interface Services {
  api: Api;
  session: Session;
}

export interface Me {
  whoami: WhoAmIResponse;
  role: Role;
  /** The user's id, as runs name their creator. */
  userId: string;
}

export const ServicesContext = createContext<Services | undefined>(undefined);
export const MeContext = createContext<Me | undefined>(undefined);

export function useServices(): Services {
  const services = useContext(ServicesContext);
  if (!services) throw new Error("useServices outside ServicesContext");
  return services;
}

export const useApi = (): Api => useServices().api;

/** The signed-in user; screens only render while someone is. */
export function useMe(): Me {
  const me = useContext(MeContext);
  if (!me) throw new Error("useMe outside a signed-in session");
  return me;
}
