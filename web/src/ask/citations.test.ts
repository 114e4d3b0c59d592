import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CitationSchema } from "../gen/switchboard/orchestrator/v1/orchestrator_pb";
import { citationHref, quote } from "./citations";
import { emptyRun, type RunView, type StepView } from "./runState";

function viewWith(steps: Partial<StepView>[]): RunView {
  const view: RunView = { ...emptyRun, run: "runs/r1", order: [], steps: {} };
  for (const s of steps) {
    const step = { id: "", name: "", description: "", tool: "", connection: "", status: 0, needsApproval: false, dependsOn: [], auditEventId: "", ...s } as StepView;
    view.order.push(step.id);
    view.steps[step.id] = step;
  }
  return view;
}

const cite = (step: string, recordId = "") => create(CitationSchema, { step: `runs/r1/steps/${step}`, recordId, title: "t" });

describe("citationHref", () => {
  const view = viewWith([
    { id: "1", tool: "records.query", input: { kind: "charge", provider: "stripe", filter: 'status = "succeeded"' } },
    { id: "2", tool: "records.sum", input: { kind: "charge", provider: "stripe", field: "amount", filter: "created >= 1700000000" } },
    { id: "3", tool: "stripe.refund.create", input: { charge: "ch_1" } },
    { id: "4", tool: "knowledge.search", input: { query: "returns" } },
  ]);

  it("opens the cited record in the records browser, filtered to its id", () => {
    const href = citationHref(cite("1", "ch_3NxyZ"), view);
    const url = new URL(href ?? "", "http://console");
    expect(url.pathname).toBe("/records");
    expect(url.searchParams.get("kind")).toBe("charge");
    expect(url.searchParams.get("provider")).toBe("stripe");
    expect(url.searchParams.get("filter")).toBe('id = "ch_3NxyZ"');
  });

  it("opens the records a sum or a count read when no single record is cited", () => {
    const url = new URL(citationHref(cite("2"), view) ?? "", "http://console");
    expect(url.searchParams.get("kind")).toBe("charge");
    expect(url.searchParams.get("filter")).toBe("created >= 1700000000");
  });

  it("opens what an action wrote, by the action's object", () => {
    const url = new URL(citationHref(cite("3", "re_9"), view) ?? "", "http://console");
    expect(url.searchParams.get("kind")).toBe("refund");
    expect(url.searchParams.get("provider")).toBe("stripe");
    expect(url.searchParams.get("filter")).toBe('id = "re_9"');
  });

  it("has no records link for knowledge passages or unknown steps", () => {
    expect(citationHref(cite("4", "chunk-1"), view)).toBeUndefined();
    expect(citationHref(cite("9", "x"), view)).toBeUndefined();
  });

  it("quotes ids safely", () => {
    expect(quote('a"b\\c')).toBe('"a\\"b\\\\c"');
  });
});
