// How connection and sync states read, and which are still moving.

import { ConnectionStatus, SyncStatus } from "../gen/switchboard/connectors/v1/connectors_pb";

export type Tone = "ok" | "warn" | "bad" | "busy" | "idle";

export function connectionTone(status: ConnectionStatus): Tone {
  switch (status) {
    case ConnectionStatus.ACTIVE:
      return "ok";
    case ConnectionStatus.NEEDS_REAUTH:
      return "warn";
    case ConnectionStatus.ERROR:
      return "bad";
    default:
      return "idle";
  }
}

export const connectionLabel: Record<ConnectionStatus, string> = {
  [ConnectionStatus.UNSPECIFIED]: "unknown",
  [ConnectionStatus.ACTIVE]: "active",
  [ConnectionStatus.NEEDS_REAUTH]: "needs reconnecting",
  [ConnectionStatus.ERROR]: "error",
  [ConnectionStatus.DISABLED]: "disabled",
};

export function syncTone(status: SyncStatus): Tone {
  switch (status) {
    case SyncStatus.SUCCEEDED:
      return "ok";
    case SyncStatus.FAILED:
      return "bad";
    case SyncStatus.CANCELLED:
      return "warn";
    case SyncStatus.PENDING:
    case SyncStatus.RUNNING:
      return "busy";
    default:
      return "idle";
  }
}

export const syncLabel: Record<SyncStatus, string> = {
  [SyncStatus.UNSPECIFIED]: "unknown",
  [SyncStatus.PENDING]: "waiting",
  [SyncStatus.RUNNING]: "running",
  [SyncStatus.SUCCEEDED]: "finished",
  [SyncStatus.FAILED]: "failed",
  [SyncStatus.CANCELLED]: "cancelled",
};

export function isSyncActive(status: SyncStatus): boolean {
  return status === SyncStatus.PENDING || status === SyncStatus.RUNNING;
}
