// What each role may do in the console, mirroring the contracts' `switchboard.auth.v1.access` rules (the gateway
// enforces them; the console only hides what would be refused).

import { Role } from "../gen/switchboard/auth/v1/auth_pb";

/** Higher is more: owner 4, admin 3, member 2, viewer 1, unknown 0. */
export function rank(role: Role): number {
  switch (role) {
    case Role.OWNER:
      return 4;
    case Role.ADMIN:
      return 3;
    case Role.MEMBER:
      return 2;
    case Role.VIEWER:
      return 1;
    default:
      return 0;
  }
}

export function atLeast(role: Role, least: Role): boolean {
  return rank(role) >= rank(least);
}

export const roleName = (role: Role): string =>
  ({ [Role.OWNER]: "owner", [Role.ADMIN]: "admin", [Role.MEMBER]: "member", [Role.VIEWER]: "viewer" })[
    role as Role.OWNER
  ] ?? "unknown";

/** Connect, reconnect and delete connections; edit assistant settings; verify the audit chain (ROLE_ADMIN). */
export const canAdminister = (role: Role) => atLeast(role, Role.ADMIN);

/** Ask, start syncs (ROLE_MEMBER). */
export const canAct = (role: Role) => atLeast(role, Role.MEMBER);

/**
 * Approve or reject a step waiting for approval: owners and admins on any run; a member only on a run they started
 * (ApproveStep's rule); viewers never.
 */
export function canReview(role: Role, userId: string, runCreator: string): boolean {
  if (canAdminister(role)) return true;
  return role === Role.MEMBER && userId !== "" && userId === runCreator;
}
