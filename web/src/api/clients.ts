// The generated service clients, one set per transport. Screens get them from `useApi()` (app/ApiContext.tsx).

import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { AuditService } from "../gen/switchboard/audit/v1/audit_pb";
import { AuthService } from "../gen/switchboard/auth/v1/auth_pb";
import { ConnectorService } from "../gen/switchboard/connectors/v1/connectors_pb";
import { OrchestratorService } from "../gen/switchboard/orchestrator/v1/orchestrator_pb";

export interface Api {
  auth: Client<typeof AuthService>;
  connectors: Client<typeof ConnectorService>;
  orchestrator: Client<typeof OrchestratorService>;
  audit: Client<typeof AuditService>;
}

export function createApi(transport: Transport): Api {
  return {
    auth: createClient(AuthService, transport),
    connectors: createClient(ConnectorService, transport),
    orchestrator: createClient(OrchestratorService, transport),
    audit: createClient(AuditService, transport),
  };
}
