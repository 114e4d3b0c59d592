// Where a citation leads: the records browser, showing the cited record (or, for a sum or a count, the records the
// step read), built from the cited step's tool and input.

import type { Citation } from "../gen/switchboard/orchestrator/v1/orchestrator_pb";
import type { RunView } from "./runState";

/** The records browser's address for a query (see screens/Records.tsx for the parameters). */
export function recordsHref(query: { kind: string; provider?: string; filter?: string }): string {
  const params = new URLSearchParams({ kind: query.kind });
  if (query.provider) params.set("provider", query.provider);
  if (query.filter) params.set("filter", query.filter);
  return `/records?${params.toString()}`;
}

/** An AIP-160 string literal. */
export function quote(value: string): string {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

const text = (value: unknown): string => (typeof value === "string" ? value : "");

/**
 * The records browser link for `citation`, or undefined when it cites something that is not a synced record (a
 * knowledge passage, a tool whose record kind is unknown).
 */
export function citationHref(citation: Citation, view: RunView): string | undefined {
  const stepId = citation.step.split("/").pop() ?? "";
  const step = view.steps[stepId];
  if (!step) return undefined;
  const recordFilter = citation.recordId ? `id = ${quote(citation.recordId)}` : undefined;
  if (step.tool.startsWith("records.")) {
    const kind = text(step.input?.kind);
    if (!kind) return undefined;
    return recordsHref({ kind, provider: text(step.input?.provider), filter: recordFilter ?? text(step.input?.filter) });
  }
  // A connector action, `<provider>.<object>.<verb>`: the record it wrote is of kind `<object>`.
  const parts = step.tool.split(".");
  if (parts.length === 3 && recordFilter) {
    return recordsHref({ kind: parts[1], provider: parts[0], filter: recordFilter });
  }
  return undefined;
}
