// Connection names for people: `connections/{id}` → its display name (or provider and account).

import { useApi } from "../app/context";
import { useQuery } from "../app/useQuery";

export function useConnectionNames(): (name: string) => string {
  const api = useApi();
  const connections = useQuery(
    async (signal) => (await api.connectors.listConnections({ pageSize: 1000 }, { signal })).connections,
    "connection-names",
  );
  const names = new Map(
    (connections.data ?? []).map((c) => [c.name, c.displayName || [c.provider, c.account].filter(Boolean).join(" ")]),
  );
  return (name: string) => names.get(name) ?? (connections.data ? `${name} (deleted)` : name);
}
