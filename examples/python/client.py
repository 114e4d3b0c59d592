"""Switchboard over gRPC from Python: sign in, look around, ask a question and follow its run as it streams.

Uses the stubs generate.sh writes into gen/ and a plaintext channel to the gateway's public port (gRPC, gRPC-Web and
REST share it). Every call after Login carries the access token as `authorization: Bearer <token>` metadata.

    SWITCHBOARD_URL=http://127.0.0.1:8080 .venv/bin/python client.py

Settings (environment): SWITCHBOARD_URL (the gateway, default http://127.0.0.1:8080), SWITCHBOARD_TENANT (demo),
SWITCHBOARD_EMAIL (owner@demo.example), SWITCHBOARD_PASSWORD (demo-password-1), SWITCHBOARD_QUESTION (last week's
revenue). Exits 1 when a call fails or the run does not succeed.
"""

import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent / "gen"))

import grpc  # noqa: E402
from google.protobuf.json_format import MessageToDict  # noqa: E402

from switchboard.auth.v1 import auth_pb2, auth_pb2_grpc  # noqa: E402
from switchboard.connectors.v1 import connectors_pb2, connectors_pb2_grpc  # noqa: E402
from switchboard.orchestrator.v1 import orchestrator_pb2, orchestrator_pb2_grpc  # noqa: E402

URL = os.environ.get("SWITCHBOARD_URL", "http://127.0.0.1:8080")
TENANT = os.environ.get("SWITCHBOARD_TENANT", "demo")
EMAIL = os.environ.get("SWITCHBOARD_EMAIL", "owner@demo.example")
PASSWORD = os.environ.get("SWITCHBOARD_PASSWORD", "demo-password-1")
QUESTION = os.environ.get("SWITCHBOARD_QUESTION", "How much revenue did we make last week?")
# The first question after `switchboard up` waits for the intent router to be built (about half a minute).
ASK_TIMEOUT_SECONDS = 180
CALL_TIMEOUT_SECONDS = 15


def target(url: str) -> str:
    """The gRPC target (`host:port`) of the gateway's public URL."""
    parsed = urlparse(url)
    if parsed.scheme != "http":
        sys.exit(f"python: {url} is not an http:// URL (this example uses a plaintext channel)")
    return f"{parsed.hostname}:{parsed.port or 80}"


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def compact(message, limit: int = 160) -> str:
    """A message or Struct as one line of JSON, cut to `limit` characters."""
    text = json.dumps(MessageToDict(message), separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def wait_for_charges(connectors, auth) -> list:
    """Stripe charges, waiting for the demo's first sync when there are none yet (up to two minutes)."""
    request = connectors_pb2.QueryRecordsRequest(
        kind="charge", provider="stripe", filter='status = "succeeded"', order_by="created desc", page_size=3
    )
    deadline = time.monotonic() + 120
    while True:
        records = connectors.QueryRecords(request, metadata=auth, timeout=CALL_TIMEOUT_SECONDS).records
        if records or time.monotonic() > deadline:
            return list(records)
        print("   no charges yet; waiting for the first Stripe sync…", flush=True)
        time.sleep(2)


def ask(orchestrator, auth, question: str) -> None:
    """Asks, prints every event of the run as it streams, and checks that the run succeeded with a cited answer."""
    answer = None
    finished = None
    writing = False  # answer deltas are being printed on the current line
    stream = orchestrator.Ask(
        orchestrator_pb2.AskRequest(question=question), metadata=auth, timeout=ASK_TIMEOUT_SECONDS
    )
    for event in stream:
        kind = event.WhichOneof("event")
        if kind == "run_started":
            print(f"   [{event.sequence}] run {event.run} started (model {event.run_started.run.model})")
        elif kind == "plan":
            print(f"   [{event.sequence}] plan: {event.plan.summary}")
            for planned in event.plan.steps:
                approval = " (needs approval)" if planned.needs_approval else ""
                print(f"         {planned.id}. {planned.tool}: {planned.description}{approval}")
        elif kind == "step_started":
            print(f"   [{event.sequence}] step {event.step_started.step_id} started: {event.step_started.tool}")
        elif kind == "step_finished":
            done = event.step_finished
            status = orchestrator_pb2.StepStatus.Name(done.status)
            result = compact(done.output) if done.HasField("output") else done.error.message
            print(f"   [{event.sequence}] step {done.step_id} finished {status}: {result}")
        elif kind == "approval_needed":
            # A data question never needs one; a write (a refund) would wait here for ApproveStep.
            print(f"   [{event.sequence}] waiting for approval: {event.approval_needed.description}")
        elif kind == "answer_delta":
            # Only a language model writes deltas; the offline assistant sends the whole answer at once.
            if event.answer_delta.restart or not writing:
                print(f"\n   [{event.sequence}] writing: ", end="")
            writing = True
            print(event.answer_delta.text.replace("\n", " "), end="", flush=True)
        elif kind == "answer":
            if writing:
                print()
            answer = event.answer
            print(f"   [{event.sequence}] answer:")
            for line in answer.text.strip().splitlines():
                print(f"     {line}".rstrip())
            for n, citation in enumerate(answer.citations, start=1):
                print(f"     [{n}] {citation.title} ({citation.step}) {citation.snippet[:100]}")
        elif kind == "run_finished":
            finished = event.run_finished
            status = orchestrator_pb2.RunStatus.Name(finished.status)
            print(f"   [{event.sequence}] run finished: {status}")
    if finished is None:
        sys.exit("python: the stream ended without run_finished")
    if finished.status != orchestrator_pb2.RUN_STATUS_SUCCEEDED:
        sys.exit(f"python: the run did not succeed: {finished.error.message}")
    if answer is None or not answer.text or not answer.citations:
        sys.exit("python: the run succeeded without a cited answer")


def main() -> None:
    with grpc.insecure_channel(target(URL)) as channel:
        auth_service = auth_pb2_grpc.AuthServiceStub(channel)
        connectors = connectors_pb2_grpc.ConnectorServiceStub(channel)
        orchestrator = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)

        step(f"AuthService.Login as {EMAIL} in tenant {TENANT} ({target(URL)})")
        login = auth_service.Login(
            auth_pb2.LoginRequest(tenant=TENANT, email=EMAIL, password=PASSWORD), timeout=CALL_TIMEOUT_SECONDS
        )
        assert login.access_token and login.refresh_token, "Login returned no tokens"
        print(f"   {login.token_type} token, expires in {login.expires_in} s")
        auth = [("authorization", f"Bearer {login.access_token}")]

        step("AuthService.WhoAmI")
        me = auth_service.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=auth, timeout=CALL_TIMEOUT_SECONDS)
        roles = ", ".join(auth_pb2.Role.Name(role) for role in me.roles)
        print(f"   {me.user.email} in {me.tenant.slug} ({me.tenant.display_name}), roles: {roles}")
        assert me.user.email == EMAIL and me.tenant.slug == TENANT, "WhoAmI names someone else"

        step("ConnectorService.ListConnections")
        connections = connectors.ListConnections(
            connectors_pb2.ListConnectionsRequest(), metadata=auth, timeout=CALL_TIMEOUT_SECONDS
        ).connections
        for connection in connections:
            status = connectors_pb2.ConnectionStatus.Name(connection.status)
            print(f"   {connection.provider:<10} {connection.name}  {connection.account}  {status}")
        assert connections, "the tenant has no connections (run `switchboard demo`)"

        step("ConnectorService.QueryRecords: the latest Stripe charges")
        charges = wait_for_charges(connectors, auth)
        for record in charges:
            data = MessageToDict(record.data)
            print(f"   {record.id}  {data.get('amount', 0) / 100:>8.2f} {data.get('currency', '')}  "
                  f"{data.get('receipt_email', '')}")
        assert charges, "no Stripe charges were synced within two minutes"

        step(f"OrchestratorService.Ask: {QUESTION!r}")
        ask(orchestrator, auth, QUESTION)

        step("AuthService.Logout")
        auth_service.Logout(auth_pb2.LogoutRequest(refresh_token=login.refresh_token), timeout=CALL_TIMEOUT_SECONDS)
        print("   session ended")

    print("\npython: ok")


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as error:
        sys.exit(f"python: {error.code().name}: {error.details()}")
    except AssertionError as error:
        sys.exit(f"python: {error}")
