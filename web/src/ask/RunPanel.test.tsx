import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { Role } from "../gen/switchboard/auth/v1/auth_pb";
import { OrchestratorService, RunStatus, StepStatus } from "../gen/switchboard/orchestrator/v1/orchestrator_pb";
import { renderAs } from "../test/render";
import { RunPanel } from "./RunPanel";
import { emptyRun, type RunView } from "./runState";

/** A run asked by user "asker", paused on a refund waiting for approval, with a cited lookup before it. */
const waiting: RunView = {
  ...emptyRun,
  run: "runs/r1",
  question: "Refund the last charge of jane@example.com",
  status: RunStatus.AWAITING_APPROVAL,
  creator: "asker",
  sequence: 5n,
  order: ["1", "2"],
  steps: {
    "1": {
      id: "1",
      name: "runs/r1/steps/1",
      description: "Find jane's last charge",
      tool: "records.query",
      connection: "",
      input: { kind: "charge", provider: "stripe" },
      status: StepStatus.SUCCEEDED,
      needsApproval: false,
      dependsOn: [],
      auditEventId: "",
    },
    "2": {
      id: "2",
      name: "runs/r1/steps/2",
      description: "Refund $40.00 on charge ch_1",
      tool: "stripe.refund.create",
      connection: "connections/c1",
      input: { charge: "ch_1" },
      status: StepStatus.AWAITING_APPROVAL,
      needsApproval: true,
      dependsOn: ["1"],
      auditEventId: "",
    },
  },
};

describe("approval cards", () => {
  it.each([
    [Role.OWNER, "someone-else"],
    [Role.ADMIN, "someone-else"],
    [Role.MEMBER, "asker"],
  ])("are shown to %s (user %s)", (role, userId) => {
    renderAs(role, <RunPanel view={waiting} />, undefined, userId);
    const card = screen.getByTestId("approval-card");
    expect(card).toHaveTextContent("Refund $40.00 on charge ch_1");
    expect(screen.getByRole("button", { name: "Approve" })).toBeEnabled();
    expect(screen.getByRole("button", { name: "Reject" })).toBeEnabled();
  });

  it.each([
    [Role.VIEWER, "asker"],
    [Role.MEMBER, "someone-else"],
  ])("are hidden from %s (user %s), who is told the run waits", (role, userId) => {
    renderAs(role, <RunPanel view={waiting} />, undefined, userId);
    expect(screen.queryByTestId("approval-card")).toBeNull();
    expect(screen.queryByRole("button", { name: "Approve" })).toBeNull();
    expect(screen.getByTestId("approval-wait")).toHaveTextContent("waiting for an owner or admin");
  });

  it("approve calls ApproveStep with the step's name and reports the new state", async () => {
    const approveStep = vi.fn((req: { name: string }) => ({
      step: { name: req.name, id: "2", status: StepStatus.RUNNING },
    }));
    const onReviewed = vi.fn();
    renderAs(Role.ADMIN, <RunPanel view={waiting} onReviewed={onReviewed} />, (router) =>
      router.service(OrchestratorService, { approveStep }),
    );
    await userEvent.click(screen.getByRole("button", { name: "Approve" }));
    await waitFor(() => expect(onReviewed).toHaveBeenCalledWith("2", StepStatus.RUNNING));
    expect(approveStep.mock.calls[0][0]).toMatchObject({ name: "runs/r1/steps/2" });
  });

  it("reject sends the reason", async () => {
    const rejectStep = vi.fn((req: { name: string; reason: string }) => ({
      step: { name: req.name, id: "2", status: StepStatus.REJECTED },
    }));
    const onReviewed = vi.fn();
    renderAs(Role.OWNER, <RunPanel view={waiting} onReviewed={onReviewed} />, (router) =>
      router.service(OrchestratorService, { rejectStep }),
    );
    await userEvent.type(screen.getByLabelText(/Reason if you reject/), "wrong customer");
    await userEvent.click(screen.getByRole("button", { name: "Reject" }));
    await waitFor(() => expect(onReviewed).toHaveBeenCalledWith("2", StepStatus.REJECTED));
    expect(rejectStep.mock.calls[0][0]).toMatchObject({ name: "runs/r1/steps/2", reason: "wrong customer" });
  });

  it("shows the step states as text", () => {
    renderAs(Role.VIEWER, <RunPanel view={waiting} />);
    const steps = screen.getAllByTestId("step");
    expect(steps.map((s) => s.dataset.status)).toEqual(["done", "awaiting approval"]);
  });
});

describe("answer", () => {
  const answered: RunView = {
    ...waiting,
    status: RunStatus.SUCCEEDED,
    steps: { ...waiting.steps, "2": { ...waiting.steps["2"], status: StepStatus.SUCCEEDED } },
    answer: {
      $typeName: "switchboard.orchestrator.v1.Answer",
      text: "**$40.00** refunded on `ch_1` [1]. <img src=x onerror=alert(1)>",
      citations: [
        {
          $typeName: "switchboard.orchestrator.v1.Citation",
          title: "Stripe charge ch_1",
          step: "runs/r1/steps/1",
          recordId: "ch_1",
          url: "",
          snippet: "{}",
        },
      ],
    },
  };

  it("links each citation to the cited record in the records browser", () => {
    renderAs(Role.VIEWER, <RunPanel view={answered} />);
    const link = screen.getByTestId("citation-link");
    const url = new URL(link.getAttribute("href") ?? "", "http://console");
    expect(url.pathname).toBe("/records");
    expect(Object.fromEntries(url.searchParams)).toEqual({ kind: "charge", provider: "stripe", filter: 'id = "ch_1"' });
    expect(screen.getByRole("link", { name: "citation 1" })).toHaveAttribute("href", "#cite-1");
  });

  it("renders the answer's Markdown as text, never as HTML", () => {
    const { container } = renderAs(Role.VIEWER, <RunPanel view={answered} />);
    const text = screen.getByTestId("answer-text");
    expect(text.querySelector("strong")).toHaveTextContent("$40.00");
    expect(text.querySelector("code")).toHaveTextContent("ch_1");
    expect(container.querySelector("img[src=x]")).toBeNull();
    expect(text).toHaveTextContent("<img src=x onerror=alert(1)>");
  });
});
