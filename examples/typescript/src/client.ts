// Switchboard from TypeScript on Node: Connect clients generated from proto/ (`npm run gen`), speaking gRPC over
// HTTP/2 (plaintext, prior knowledge) to the gateway's public port.
//
// Signs in as the owner, lists the connections, asks last week's revenue, then asks for a refund of a customer's
// last charge and approves it while the run's stream stays open. When a viewer's credentials are given, it first
// shows that the viewer may not approve: PERMISSION_DENIED.
//
//   SWITCHBOARD_URL=http://127.0.0.1:8080 npm start
//
// Settings (environment): SWITCHBOARD_URL (the gateway, default http://127.0.0.1:8080), SWITCHBOARD_TENANT (demo),
// SWITCHBOARD_EMAIL (owner@demo.example), SWITCHBOARD_PASSWORD (demo-password-1), SWITCHBOARD_VIEWER_EMAIL and
// SWITCHBOARD_VIEWER_PASSWORD (unset: the viewer part is skipped). Exits 1 on any failed call or unexpected answer.

import { Code, ConnectError, createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { AuthService, Role } from "./gen/switchboard/auth/v1/auth_pb";
import { ConnectionStatus, ConnectorService } from "./gen/switchboard/connectors/v1/connectors_pb";
import {
  OrchestratorService,
  RunStatus,
  StepStatus,
  type Answer,
  type AskResponse,
  type RunFinished,
} from "./gen/switchboard/orchestrator/v1/orchestrator_pb";

const env = process.env;
const baseUrl = env.SWITCHBOARD_URL ?? "http://127.0.0.1:8080";
const tenant = env.SWITCHBOARD_TENANT ?? "demo";
const owner = { email: env.SWITCHBOARD_EMAIL ?? "owner@demo.example", password: env.SWITCHBOARD_PASSWORD ?? "demo-password-1" };
const viewer = env.SWITCHBOARD_VIEWER_EMAIL
  ? { email: env.SWITCHBOARD_VIEWER_EMAIL, password: env.SWITCHBOARD_VIEWER_PASSWORD ?? "" }
  : undefined;
// The first question after `switchboard up` waits for the intent router to be built (about half a minute).
const askTimeoutMs = 180_000;
const callTimeoutMs = 15_000;

// One HTTP/2 connection for every client below; closed at the end so that Node exits at once.
const connection = new Http2SessionManager(baseUrl);

/** A gRPC transport (always HTTP/2) on the shared connection; with a token, every call carries `authorization: Bearer <token>`. */
function transport(token?: string): Transport {
  const bearer: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
  return createGrpcTransport({
    baseUrl,
    sessionManager: connection,
    interceptors: token ? [bearer] : [],
    defaultTimeoutMs: callTimeoutMs,
  });
}

/** The services, as a signed-in user. */
function signedIn(token: string) {
  const t = transport(token);
  return {
    auth: createClient(AuthService, t),
    connectors: createClient(ConnectorService, t),
    orchestrator: createClient(OrchestratorService, t),
  };
}

class Unexpected extends Error {}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Unexpected(message);
}

function step(title: string) {
  console.log(`\n== ${title}`);
}

function short(value: unknown, limit = 140): string {
  const text = JSON.stringify(value);
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

async function login(who: { email: string; password: string }) {
  const auth = createClient(AuthService, transport());
  const session = await auth.login({ tenant, email: who.email, password: who.password });
  check(session.accessToken && session.refreshToken, "Login returned no tokens");
  console.log(`   ${who.email}: ${session.tokenType} token, expires in ${session.expiresIn} s`);
  return session;
}

/** Prints one event of a run's stream. */
function show(event: AskResponse) {
  const at = `   [${event.sequence}]`;
  const e = event.event;
  switch (e.case) {
    case "runStarted":
      console.log(`${at} run ${event.run} started (${e.value.run?.model})`);
      break;
    case "plan":
      console.log(`${at} plan: ${e.value.summary}`);
      for (const s of e.value.steps) {
        console.log(`         ${s.id}. ${s.tool}: ${s.description}${s.needsApproval ? " (needs approval)" : ""}`);
      }
      break;
    case "stepStarted":
      console.log(`${at} step ${e.value.stepId} started: ${e.value.tool}`);
      break;
    case "stepFinished": {
      const outcome = e.value.outcome;
      const result = outcome.case === "output" ? short(outcome.value) : outcome.value?.message;
      console.log(`${at} step ${e.value.stepId} finished ${StepStatus[e.value.status]}: ${result}`);
      break;
    }
    case "approvalNeeded":
      console.log(`${at} waiting for approval of ${e.value.step}: ${e.value.description} (${e.value.tool} ${short(e.value.input)})`);
      break;
    case "answerDelta":
      // Only a language model writes deltas; the offline assistant sends the whole answer at once.
      console.log(`${at} writing: ${JSON.stringify(e.value.text)}`);
      break;
    case "answer":
      console.log(`${at} answer:`);
      for (const line of e.value.text.trim().split("\n")) console.log(`     ${line}`.trimEnd());
      e.value.citations.forEach((c, i) => console.log(`     [${i + 1}] ${c.title} (${c.step})`));
      break;
    case "runFinished":
      console.log(`${at} run finished: ${RunStatus[e.value.status]}`);
      break;
  }
}

/**
 * Asks a question and follows its run to the end, printing every event. `onApproval` is called for each step that
 * waits for a person; the stream stays open meanwhile and carries on once the step is approved or rejected.
 * Returns the run's name once it has succeeded with a cited answer.
 */
async function ask(
  orchestrator: Client<typeof OrchestratorService>,
  question: string,
  onApproval?: (step: string, tool: string) => Promise<void>,
): Promise<string> {
  let answer: Answer | undefined;
  let finished: RunFinished | undefined;
  let run = "";
  for await (const event of orchestrator.ask({ question }, { timeoutMs: askTimeoutMs })) {
    show(event);
    run = event.run;
    const e = event.event;
    if (e.case === "approvalNeeded") {
      check(onApproval, `the run unexpectedly waits for approval of ${e.value.step}`);
      await onApproval(e.value.step, e.value.tool);
    } else if (e.case === "answer") {
      answer = e.value;
    } else if (e.case === "runFinished") {
      finished = e.value;
    }
  }
  check(finished, "the stream ended without runFinished");
  check(finished.status === RunStatus.SUCCEEDED, `the run ${run} did not succeed: ${finished.error?.message}`);
  check(answer?.text && answer.citations.length > 0, "the run succeeded without a cited answer");
  return run;
}

async function main() {
  step(`AuthService.Login in tenant ${tenant} (${baseUrl}, gRPC over HTTP/2)`);
  const session = await login(owner);
  const api = signedIn(session.accessToken);

  step("AuthService.WhoAmI");
  const me = await api.auth.whoAmI({});
  console.log(`   ${me.user?.email} in ${me.tenant?.slug}, roles: ${me.roles.map((r) => Role[r]).join(", ")}`);
  check(me.user?.email === owner.email, "WhoAmI names someone else");

  step("ConnectorService.ListConnections");
  const { connections } = await api.connectors.listConnections({});
  for (const c of connections) {
    console.log(`   ${c.provider.padEnd(10)} ${c.name}  ${c.account}  ${ConnectionStatus[c.status]}`);
  }
  check(connections.some((c) => c.provider === "stripe"), "no Stripe connection (run `switchboard demo`)");

  step("OrchestratorService.Ask: last week's revenue");
  await ask(api.orchestrator, "How much revenue did we make last week?");

  step("ConnectorService.QueryRecords: a customer with a refundable Stripe charge");
  let emails: string[] = [];
  for (let attempt = 0; emails.length === 0 && attempt < 60; attempt++) {
    if (attempt > 0) await new Promise((done) => setTimeout(done, 2_000));
    const { records } = await api.connectors.queryRecords({
      kind: "charge",
      provider: "stripe",
      filter: 'status = "succeeded" AND refunded = false',
      orderBy: "created desc",
      pageSize: 20,
    });
    emails = [...new Set(records.map((r) => r.data?.receipt_email).filter((e): e is string => typeof e === "string"))];
  }
  check(emails.length > 0, "no refundable Stripe charges were synced within two minutes");
  // The curl walk-through refunds the first customer's last charge; take another so that both can run in turn.
  const customer = emails[1] ?? emails[0];
  console.log(`   ${customer}`);

  step(`OrchestratorService.Ask: "Refund the last charge of ${customer}", approved while the stream is open`);
  const run = await ask(api.orchestrator, `Refund the last charge of ${customer}`, async (approval, tool) => {
    check(tool === "stripe.refund.create", `unexpected approval for ${tool}`);
    if (viewer) {
      console.log(`   -- ${viewer.email} (a viewer) tries to approve it:`);
      const asViewer = signedIn((await login(viewer)).accessToken);
      try {
        await asViewer.orchestrator.approveStep({ name: approval, comment: "a viewer may not" });
        throw new Unexpected("a viewer approved a refund");
      } catch (error) {
        if (error instanceof Unexpected) throw error;
        const refused = ConnectError.from(error);
        check(refused.code === Code.PermissionDenied, `the viewer got ${Code[refused.code]}, not PermissionDenied`);
        console.log(`   PermissionDenied, as expected: ${refused.rawMessage}`);
      }
    }
    console.log(`   -- ${owner.email} (the owner) approves it:`);
    const { step: approved } = await api.orchestrator.approveStep({ name: approval, comment: "approved by the TypeScript example" });
    check(approved?.name === approval, "the approval names another step");
    console.log(`   ${approved.name} is now ${StepStatus[approved.status]}`);
  });

  step(`OrchestratorService.GetRun: ${run}`);
  const stored = (await api.orchestrator.getRun({ name: run })).run;
  for (const s of stored?.steps ?? []) console.log(`   step ${s.id} ${s.tool}: ${StepStatus[s.status]}`);
  const refund = stored?.steps.find((s) => s.tool === "stripe.refund.create");
  check(refund?.status === StepStatus.SUCCEEDED, "the refund step did not succeed");

  step("AuthService.Logout");
  await createClient(AuthService, transport()).logout({ refreshToken: session.refreshToken });
  console.log("   session ended");

  console.log("\ntypescript: ok");
}

main()
  .catch((error: unknown) => {
    const message =
      error instanceof Unexpected ? error.message : error instanceof ConnectError ? `${Code[error.code]}: ${error.rawMessage}` : String(error);
    console.error(`typescript: ${message}`);
    process.exitCode = 1;
  })
  .finally(() => connection.abort());
