"""The chart's tests, over manifests rendered by Helm's own engine (render.py) for the default values, the
production example and every option turned on. scripts/test-chart.sh runs them in the chart's virtualenv."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate.utils as kv
import pytest
import yaml

import cert_manager
import schema
import values_doc
from render import (
    CHART,
    binary,
    NAMESPACE,
    RELEASE,
    REPO,
    ROLES,
    TESTS,
    VALUE_FILES,
    component,
    load,
    manifests,
    mesh_callers,
    notes,
    of_kind,
    pod_spec,
    render_values,
    serve_settings,
)
from values_model import leaves

# The Kubernetes versions the chart claims (Chart.yaml kubeVersion >=1.30): the oldest and the newest schemas
# kubernetes-validate ships.
KUBE_VERSIONS = ("1.30.0", "1.37.0")
# The drain deadline of every server (libs/mesh/src/server.rs Limits::drain_deadline).
DRAIN_SECONDS = 20
FULLNAME = f"{RELEASE}-switchboard"
ALL = frozenset(ROLES)
BUS = frozenset({"gateway", "connectors", "audit"})

# Which roles read each setting `switchboard serve <role> --help` lists. Every role's help lists all of them (one
# PlatformConfig); what each role actually uses is Platform::start in services/switchboard/src/platform.rs. A
# setting the binary gains must be placed here (the test fails on an unknown one).
READS: dict[str, frozenset[str]] = {
    "SWITCHBOARD_DATA_DIR": ALL,
    "SWITCHBOARD_LISTEN": ALL,
    "SWITCHBOARD_METRICS_ADDR": ALL,
    "SWITCHBOARD_TLS_CA": ALL,
    "SWITCHBOARD_TLS_CERT": ALL,
    "SWITCHBOARD_TLS_KEY": ALL,
    "DATABASE_URL": ALL,
    "SWITCHBOARD_DATABASE_SCHEMA": ALL,
    "SWITCHBOARD_MIGRATE_ON_START": ALL,
    "SWITCHBOARD_HEALTH_ADDR": ALL,
    "SWITCHBOARD_GATEWAY_ADDR": frozenset({"gateway"}),
    "SWITCHBOARD_GATEWAY_ADMIN_ADDR": frozenset({"gateway"}),
    "SWITCHBOARD_AUDIT_ADDR": frozenset({"gateway"}),
    "SWITCHBOARD_CONNECTORS_ADDR": frozenset({"gateway", "orchestrator"}),
    "SWITCHBOARD_ORCHESTRATOR_ADDR": frozenset({"gateway"}),
    "SWITCHBOARD_PUBLIC_TLS_CERT": frozenset({"gateway"}),
    "SWITCHBOARD_PUBLIC_TLS_KEY": frozenset({"gateway"}),
    "SWITCHBOARD_RATE_LIMIT_PER_MINUTE": frozenset({"gateway"}),
    "SWITCHBOARD_WEBHOOK_RATE_LIMIT_PER_MINUTE": frozenset({"gateway"}),
    "SWITCHBOARD_RATE_LIMIT_ON_STORE_ERROR": frozenset({"gateway"}),
    "SWITCHBOARD_REVOCATION_ON_CACHE_ERROR": frozenset({"gateway"}),
    "SWITCHBOARD_TRUSTED_PROXIES": frozenset({"gateway"}),
    "SWITCHBOARD_CORS_ORIGINS": frozenset({"gateway"}),
    "SWITCHBOARD_CONSOLE_DIR": frozenset({"gateway"}),
    "SWITCHBOARD_JWT_KEYS_DIR": frozenset({"gateway"}),
    "SWITCHBOARD_JWT_ACTIVE_KID": frozenset({"gateway"}),
    "SWITCHBOARD_MAX_CONNECTIONS": frozenset({"gateway"}),
    "SWITCHBOARD_MAX_CONNECTIONS_PER_CLIENT": frozenset({"gateway"}),
    "SWITCHBOARD_ANONYMOUS_STREAM_LIFETIME": frozenset({"gateway"}),
    "SWITCHBOARD_ACCESS_TOKEN_TTL": frozenset({"gateway"}),
    "SWITCHBOARD_REFRESH_TOKEN_TTL": frozenset({"gateway"}),
    "SWITCHBOARD_SESSION_LIFETIME": frozenset({"gateway"}),
    "SWITCHBOARD_OUTBOX_POLL_MS": frozenset({"gateway"}),
    "REDIS_URL": frozenset({"gateway", "connectors"}),
    "REDIS_TLS_CA_FILE": frozenset({"gateway", "connectors"}),
    "KAFKA_BROKERS": BUS,
    "KAFKA_TLS": BUS,
    "KAFKA_TLS_CA_FILE": BUS,
    "KAFKA_TLS_CERT_FILE": BUS,
    "KAFKA_TLS_KEY_FILE": BUS,
    "KAFKA_SASL_MECHANISM": BUS,
    "KAFKA_SASL_USERNAME": BUS,
    "KAFKA_SASL_PASSWORD": BUS,
    "KAFKA_BATCH_MESSAGES": BUS,
    "SWITCHBOARD_EVENT_KEYS_FILE": BUS,
    "SWITCHBOARD_EVENT_RETENTION_HOURS": BUS,
    "SWITCHBOARD_AUDIT_SIGNING_KEY": frozenset({"audit"}),
    "QDRANT_URL": frozenset({"orchestrator"}),
    "QDRANT_API_KEY": frozenset({"orchestrator"}),
    "SWITCHBOARD_EMBEDDING_MODEL_DIR": frozenset({"orchestrator"}),
    "OPENAI_API_KEY": frozenset({"orchestrator"}),
    "OPENAI_BASE_URL": frozenset({"orchestrator"}),
    "OPENAI_MODEL": frozenset({"orchestrator"}),
    "OPENAI_CONTEXT_WINDOW": frozenset({"orchestrator"}),
    "ANTHROPIC_API_KEY": frozenset({"orchestrator"}),
    "ANTHROPIC_BASE_URL": frozenset({"orchestrator"}),
    "ANTHROPIC_MODEL": frozenset({"orchestrator"}),
    "ANTHROPIC_CONTEXT_WINDOW": frozenset({"orchestrator"}),
    "SWITCHBOARD_MODEL_ORDER": frozenset({"orchestrator"}),
    "SWITCHBOARD_MODEL_FIRST_BYTE_TIMEOUT_SECS": frozenset({"orchestrator"}),
    "SWITCHBOARD_MODEL_TOTAL_TIMEOUT_SECS": frozenset({"orchestrator"}),
    "SWITCHBOARD_MODEL_MAX_TOKENS": frozenset({"orchestrator"}),
    "SWITCHBOARD_KEK_FILE": frozenset({"connectors"}),
    "SWITCHBOARD_PUBLIC_URL": frozenset({"connectors"}),
    "SWITCHBOARD_OAUTH_REDIRECT_URIS": frozenset({"connectors"}),
    "SWITCHBOARD_STRIPE_API_BASE": frozenset({"connectors"}),
    "SWITCHBOARD_STRIPE_CONNECT_BASE": frozenset({"connectors"}),
    "SWITCHBOARD_STRIPE_CLIENT_ID": frozenset({"connectors"}),
    "SWITCHBOARD_STRIPE_SECRET_KEY": frozenset({"connectors"}),
    "SWITCHBOARD_STRIPE_WEBHOOK_SECRET": frozenset({"connectors"}),
    "SWITCHBOARD_SHOPIFY_BASE": frozenset({"connectors"}),
    "SWITCHBOARD_SHOPIFY_API_VERSION": frozenset({"connectors"}),
    "SWITCHBOARD_SHOPIFY_API_KEY": frozenset({"connectors"}),
    "SWITCHBOARD_SHOPIFY_API_SECRET": frozenset({"connectors"}),
    "SWITCHBOARD_QUICKBOOKS_API_BASE": frozenset({"connectors"}),
    "SWITCHBOARD_QUICKBOOKS_MINOR_VERSION": frozenset({"connectors"}),
    "SWITCHBOARD_QUICKBOOKS_CLIENT_ID": frozenset({"connectors"}),
    "SWITCHBOARD_QUICKBOOKS_CLIENT_SECRET": frozenset({"connectors"}),
    "SWITCHBOARD_QUICKBOOKS_WEBHOOK_VERIFIER": frozenset({"connectors"}),
    "SWITCHBOARD_HUBSPOT_CLIENT_ID": frozenset({"connectors"}),
    "SWITCHBOARD_HUBSPOT_CLIENT_SECRET": frozenset({"connectors"}),
    "SWITCHBOARD_HUBSPOT_SCOPES": frozenset({"connectors"}),
}

# Settings the binary reads that no values reach, each with its reason.
EXEMPT = {
    # Points every provider at a `switchboard-sandbox` (fake Stripe/Shopify/QuickBooks/HubSpot): `make run` and the
    # tests only. The chart ships no sandbox, and the per-provider API bases (which the chart does expose) cover
    # a provider's own sandbox environment.
    "SWITCHBOARD_SANDBOX_URL": "dev-only: the local provider sandbox",
}

# Variables the chart sets that `serve --help` does not list: read by the logging and tracing setup, and one the
# chart needs from the binary (see the chart's README: the plaintext health listener the kubelet's probes call).
OUTSIDE_CLAP = {"RUST_LOG", "OTEL_EXPORTER_OTLP_ENDPOINT"}
PENDING_IN_BINARY: set[str] = set()

# Values that are secrets although clap shows them: URLs that may carry a password.
SECRET_URLS = {"DATABASE_URL", "REDIS_URL", "QDRANT_URL"}


def container_env(docs: tuple[dict[str, Any], ...], role: str) -> dict[str, dict[str, Any]]:
    """Name -> {"value": str} (its ConfigMap or a literal) or {"secret": (name, key)} for a role's container."""
    deployment = next(d for d in of_kind(docs, "Deployment") if component(d) == role)
    container = pod_spec(deployment)["containers"][0]
    maps = {c["metadata"]["name"]: c.get("data", {}) for c in of_kind(docs, "ConfigMap")}
    env: dict[str, dict[str, Any]] = {}
    for source in container.get("envFrom", []):
        for name, value in maps[source["configMapRef"]["name"]].items():
            env[name] = {"value": value}
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = {"value": entry["value"]}
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = {"secret": (ref["name"], ref["key"])}
    return env


def all_containers(docs: tuple[dict[str, Any], ...]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, container) for every Deployment and Job."""
    found = []
    for workload in of_kind(docs, "Deployment") + of_kind(docs, "Job"):
        spec = pod_spec(workload)
        for container in spec.get("initContainers", []) + spec["containers"]:
            found.append((workload, container))
    return found


VALUES = pytest.mark.parametrize("values", list(VALUE_FILES))


# === Helm: lint, schema, rendering ===


@VALUES
@pytest.mark.parametrize("kube", KUBE_VERSIONS)
def test_helm_lint_strict_has_no_findings(values: str, kube: str) -> None:
    report = helm.lint(str(CHART), load(VALUE_FILES[values]), strict=True, kube_version=f"v{kube}")
    assert report["messages"] == [] and report["errors"] == [], report


@pytest.mark.parametrize(
    "bad",
    [
        {"gateway": {"replicas": "two"}},
        {"gateway": {"replikas": 2}},
        {"ports": {"public": "8080"}},
        {"ports": {"public": 70000}},
        {"keys": {"generate": "yes"}},
        {"gateway": {"rateLimitOnStoreError": "maybe"}},
        {"kafka": {"sasl": {"mechanism": "GSSAPI"}}},
        {"orchestrator": {"models": {"order": ["openai", "gemini"]}}},
        {"audit": {"resources": {"requests": {"cpu": True}, "limits": {}}}},
        {"networkPolicy": {"egress": {"dns": {"ports": [{"port": 53, "protocol": "ICMP"}]}}}},
        {"mtls": {"certManager": {"duration": "90 days"}}},
        {"database": {"url": "mysql://db/switchboard"}},
        {"connectors": {"providers": {"stripe": {"secretKey": 42}}}},
    ],
    ids=lambda bad: yaml.safe_dump(bad, default_flow_style=True).strip(),
)
def test_schema_refuses_a_wrong_value(bad: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        render_values(bad)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"gateway": {"replicas": 2}}, "needs Redis"),
        ({"gateway": {"autoscaling": {"enabled": True}}}, "needs Redis"),
        ({"orchestrator": {"replicas": 3}}, "needs Qdrant"),
        ({"terminationGracePeriodSeconds": 25}, "must exceed"),
        ({"mtls": {"certManager": {"enabled": False}}}, "mtls.existingSecrets.audit is required"),
        ({"mtls": {"certManager": {"selfSignedCA": False}}}, "issuerRef.name is required"),
        ({"keys": {"generate": False}}, "keys.jwt.existingSecret is required"),
        ({"database": {"url": ""}}, "database.url or database.existingSecret"),
        ({"kafka": {"brokers": "k:9092", "sasl": {"mechanism": "PLAIN", "username": "u", "password": "p"}}}, "PLAIN"),
    ],
)
def test_unworkable_combinations_fail_with_the_fix(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        render_values(values)


def test_schema_and_readme_are_generated_from_values_yaml() -> None:
    assert schema.SCHEMA.read_text() == schema.render(), "run: charts/.venv/bin/python charts/tests/schema.py"
    current = values_doc.README.read_text()
    assert current == values_doc.rendered(current), "run: charts/.venv/bin/python charts/tests/values_doc.py"


def test_every_value_is_documented() -> None:
    undocumented = [leaf.dotted for leaf in leaves()[0] if not leaf.doc]
    assert undocumented == []


def test_app_version_is_the_workspace_version() -> None:
    cargo = (REPO / "Cargo.toml").read_text()
    workspace = re.search(r'\[workspace\.package\][^\[]*?\nversion = "([^"]+)"', cargo)
    assert workspace, "no [workspace.package] version in Cargo.toml"
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == workspace.group(1)
    assert chart["apiVersion"] == "v2"


# === Kubernetes schemas ===

CRD_KINDS = {("cert-manager.io/v1", "Certificate"), ("cert-manager.io/v1", "Issuer")}


@VALUES
@pytest.mark.parametrize("kube", KUBE_VERSIONS)
def test_every_manifest_validates_strictly(values: str, kube: str) -> None:
    failures = []
    for doc in manifests(values):
        try:
            if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
                cert_manager.validate(doc)  # not in the Kubernetes schemas
                continue
            kv.validate(doc, kube, strict=True)
        except kv.SchemaNotFoundError as e:
            failures.append(e.message)
        except (kv.ValidationError, jsonschema.ValidationError) as e:
            failures.append(f"{doc['kind']}/{doc['metadata']['name']}: {'.'.join(map(str, e.path))}: {e.message}")
    assert failures == []


# === Pods ===


@VALUES
def test_every_container_is_hardened_with_probes_and_resources(values: str) -> None:
    docs = manifests(values)
    assert {component(d) for d in of_kind(docs, "Deployment")} == ALL
    for workload, container in all_containers(docs):
        where = f"{workload['kind']}/{workload['metadata']['name']}/{container['name']}"
        spec = pod_spec(workload)
        security = container["securityContext"]
        assert security["runAsNonRoot"] is True, where
        assert security["readOnlyRootFilesystem"] is True, where
        assert security["allowPrivilegeEscalation"] is False, where
        assert security["capabilities"]["drop"] == ["ALL"] and "add" not in security["capabilities"], where
        assert security["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec["automountServiceAccountToken"] is False, where
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), where
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
        assert "memory" in container["resources"]["limits"], where
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], where
        assert "/var/lib/switchboard" in mounts, where
        for port in container.get("ports", []):
            assert "hostPort" not in port, where
        if workload["kind"] != "Deployment":
            continue  # a one-shot Job has nothing to probe
        health = next(p["containerPort"] for p in container["ports"] if p["name"] == "health")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"] == {"port": health}, f"{where} {probe}"


@VALUES
def test_pods_stop_after_draining(values: str) -> None:
    for deployment in of_kind(manifests(values), "Deployment"):
        spec = pod_spec(deployment)
        sleep = spec["containers"][0].get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        assert spec["terminationGracePeriodSeconds"] > sleep + DRAIN_SECONDS


@VALUES
def test_roles_listen_on_all_interfaces_and_dial_cluster_dns_names(values: str) -> None:
    docs = manifests(values)
    ports = {"gateway": 8080, "audit": 7101, "connectors": 7102, "orchestrator": 7103}
    for role in ROLES:
        env = container_env(docs, role)
        assert env["SWITCHBOARD_LISTEN"]["value"] == f"0.0.0.0:{ports[role]}"
        for callee, callers in mesh_callers().items():
            if role in callers:
                address = env[f"SWITCHBOARD_{callee.upper()}_ADDR"]["value"]
                assert address == f"{FULLNAME}-{callee}.{NAMESPACE}.svc.cluster.local:{ports[callee]}"
        deployment = next(d for d in of_kind(docs, "Deployment") if component(d) == role)
        assert pod_spec(deployment)["containers"][0]["args"] == ["serve", role]
    assert container_env(docs, "gateway")["SWITCHBOARD_GATEWAY_ADMIN_ADDR"]["value"] == "0.0.0.0:7100"


def test_autoscaling_pdb_and_spread() -> None:
    docs = manifests("production")
    scaled = {component(h): h for h in of_kind(docs, "HorizontalPodAutoscaler")}
    assert set(scaled) == {"gateway", "orchestrator"}
    for role, hpa in scaled.items():
        deployment = next(d for d in of_kind(docs, "Deployment") if component(d) == role)
        assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"
        assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert {component(p) for p in of_kind(docs, "PodDisruptionBudget")} == ALL
    for deployment in of_kind(docs, "Deployment"):
        keys = [c["topologyKey"] for c in pod_spec(deployment)["topologySpreadConstraints"]]
        assert keys == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]


# === Exposure and network policies ===


@VALUES
def test_only_the_gateways_public_port_leaves_the_cluster(values: str) -> None:
    docs = manifests(values)
    public = f"{FULLNAME}-gateway"
    for service in of_kind(docs, "Service"):
        if service["metadata"]["name"] == public:
            assert [p["targetPort"] for p in service["spec"]["ports"]] == ["public"]
        else:
            assert service["spec"]["type"] == "ClusterIP", service["metadata"]["name"]
    for ingress in of_kind(docs, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"] == {"name": public, "port": {"name": "public"}}


@VALUES
def test_network_policies_mirror_the_mesh_rights(values: str) -> None:
    docs = manifests(values)
    policies = {component(p): p for p in of_kind(docs, "NetworkPolicy")}
    callers = {role: who - {"operator"} for role, who in mesh_callers().items()}
    configured = (load(VALUE_FILES[values]) or {}).get("networkPolicy", {})
    for service in of_kind(docs, "Service"):
        assert component(service) in policies, f"no NetworkPolicy for {service['metadata']['name']}"
    for role in ROLES:
        spec = policies[role]["spec"]
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        mesh_port = {"gateway": 7100, "audit": 7101, "connectors": 7102, "orchestrator": 7103}[role]
        # Sources from outside the release: only what values name, each on its own port.
        outside = {8080: configured.get("publicFrom", []) if role == "gateway" else None,
                   mesh_port: configured.get("operatorFrom", []), 9464: configured.get("metricsFrom", [])}
        allowed: dict[int, set[str]] = {}
        for rule in spec["ingress"]:
            ports = {p["port"] for p in rule["ports"]}
            sources = rule.get("from")
            if sources is None:
                assert (role, ports) == ("gateway", {8080}) and not outside[8080], f"{role}: {ports} open to anyone"
                continue
            for source in sources:
                label = source.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component")
                if label and "namespaceSelector" not in source:
                    assert source["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == RELEASE
                    for port in ports:
                        allowed.setdefault(port, set()).add(label)
                else:
                    assert len(ports) == 1 and source in (outside.get(next(iter(ports))) or []), (role, ports, source)
        assert allowed.get(mesh_port, set()) == callers[role], role
        assert set(allowed) <= {mesh_port}, f"{role}: release pods may reach {sorted(allowed)}"
        called = set()
        for rule in spec["egress"]:
            for target in rule.get("to", []):
                label = target.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component")
                if label:
                    called.add(label)
        assert called == {callee for callee, who in callers.items() if role in who}, role


def test_grpc_and_http_ingresses_are_split_by_host() -> None:
    ingresses = {i["metadata"]["name"]: i for i in of_kind(manifests("production"), "Ingress")}
    grpc, http = ingresses[f"{FULLNAME}-gateway-grpc"], ingresses[f"{FULLNAME}-gateway-http"]
    assert grpc["metadata"]["annotations"]["nginx.ingress.kubernetes.io/backend-protocol"] == "GRPC"
    assert "nginx.ingress.kubernetes.io/backend-protocol" not in http["metadata"]["annotations"]
    assert [r["host"] for r in grpc["spec"]["rules"]] == ["grpc.switchboard.example"]
    assert [r["host"] for r in http["spec"]["rules"]] == ["api.switchboard.example"]
    assert grpc["spec"]["tls"] == http["spec"]["tls"]


def test_providers_are_reachable_only_from_connectors_and_the_orchestrator() -> None:
    policies = {component(p): p for p in of_kind(manifests("default"), "NetworkPolicy")}
    for role, policy in policies.items():
        https = any({"port": 443, "protocol": "TCP"} in rule["ports"] for rule in policy["spec"]["egress"])
        assert https == (role in {"connectors", "orchestrator"}), role


# === Secrets ===

SECRETISH_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|API_KEY|VERIFIER|_KEY$|DATABASE_URL|REDIS_URL|QDRANT_URL)")
# Names that match the pattern but hold no secret: a public client id, lifetimes, a token limit.
NOT_SECRET = {
    "SWITCHBOARD_SHOPIFY_API_KEY",  # the Shopify app's client id (public)
    "SWITCHBOARD_ACCESS_TOKEN_TTL",
    "SWITCHBOARD_REFRESH_TOKEN_TTL",
    "SWITCHBOARD_MODEL_MAX_TOKENS",
}
SECRETISH_VALUE = re.compile(
    r"(-----BEGIN [A-Z ]*PRIVATE KEY-----|sentinel|\bsk-[A-Za-z0-9]|\bsk_live_|\bwhsec_|://[^/\s:@]*:[^/\s@]+@)"
)


@VALUES
def test_no_secret_in_a_config_map_or_an_env_literal(values: str) -> None:
    docs = manifests(values)
    plain: list[tuple[str, str, str]] = []
    for config_map in of_kind(docs, "ConfigMap"):
        for name, value in config_map.get("data", {}).items():
            plain.append((config_map["metadata"]["name"], name, str(value)))
    for workload, container in all_containers(docs):
        for entry in container.get("env", []):
            if "value" in entry:
                plain.append((workload["metadata"]["name"], entry["name"], str(entry["value"])))
    hidden = {name for name, setting in serve_settings("gateway").items() if setting["hidden"]}
    for where, name, value in plain:
        assert name not in hidden | SECRET_URLS, f"{where}: {name} is a secret but is set as plain text"
        if SECRETISH_NAME.search(name) and name not in NOT_SECRET:
            assert value.startswith("/etc/switchboard/"), f"{where}: {name}={value!r} looks like a secret"
        assert not SECRETISH_VALUE.search(value), f"{where}: {name}={value!r} looks like a secret"
    # Nor anywhere else outside a Secret: annotations, labels, args.
    for doc in docs:
        if doc["kind"] != "Secret":
            assert not re.search(r"sentinel|PRIVATE KEY", yaml.safe_dump(doc)), f"{doc['kind']}/{doc['metadata']['name']}"


def test_each_role_gets_only_the_secrets_it_reads() -> None:
    docs = manifests("every-setting")
    for role in ROLES:
        for name, source in container_env(docs, role).items():
            if "secret" in source:
                assert role in READS[name], f"{role} is given {name}, which it does not read"
    secrets = {s["metadata"]["name"]: s for s in of_kind(docs, "Secret")}
    ours = secrets[f"{FULLNAME}-secrets"]["data"]
    assert base64.b64decode(ours["OPENAI_API_KEY"]).decode() == "sk-sentinel-openai"


def test_generated_keys_have_the_formats_the_binary_reads() -> None:
    secrets = {s["metadata"]["name"]: s for s in of_kind(manifests("default"), "Secret")}
    keys = secrets[f"{FULLNAME}-keys"]
    assert keys["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    # Ed25519 PKCS#8 v1 in DER: SEQUENCE { 0, AlgorithmIdentifier { 1.3.101.112 }, OCTET STRING { 32 bytes } }.
    der = base64.b64decode(keys["data"]["audit-checkpoint.p8"])
    assert der[:16] == bytes.fromhex("302e020100300506032b657004220420") and len(der) == 48
    for name, prefix in (("events.keys", "e"), ("kek", "k")):
        line = base64.b64decode(keys["data"][name]).decode()
        assert re.fullmatch(prefix + r"[0-9]+ [A-Za-z0-9_-]{43}\n", line), (name, line)
    jwt = secrets[f"{FULLNAME}-jwt"]["data"]
    kid = base64.b64decode(jwt["active"]).decode()
    assert base64.b64decode(jwt[f"{kid}.p8"])[:16] == der[:16]


def test_production_takes_every_secret_from_existing_secrets() -> None:
    made = {s["metadata"]["name"] for s in of_kind(manifests("production"), "Secret")}
    assert made == set(), f"the production example should generate nothing, but renders {sorted(made)}"


def test_the_migration_hook_runs_before_the_release_with_what_it_needs() -> None:
    docs = manifests("default")
    hooks = {(d["kind"], d["metadata"]["name"]): d["metadata"].get("annotations", {}) for d in docs}
    job = next(d for d in of_kind(docs, "Job"))
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert pod_spec(job)["containers"][0]["args"] == ["migrate"]
    database = pod_spec(job)["containers"][0]["env"][-1]["valueFrom"]["secretKeyRef"]["name"]
    for needed in (("Secret", database), ("ServiceAccount", pod_spec(job)["serviceAccountName"])):
        assert hooks[needed].get("helm.sh/hook") == "pre-install,pre-upgrade", needed
        assert int(hooks[needed]["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"]), needed


# === Certificates ===


@VALUES
def test_certificates_name_each_workload_as_the_mesh_checks_it(values: str) -> None:
    docs = manifests(values)
    certificates = {c["spec"].get("commonName"): c for c in of_kind(docs, "Certificate") if not c["spec"].get("isCA")}
    for role in ROLES:
        spec = certificates[role]["spec"]
        assert spec["uris"] == [f"spiffe://switchboard.local/{role}"]
        assert role in spec["dnsNames"], "peers verify the server against the bare workload name"
        assert {"server auth", "client auth"} <= set(spec["usages"])
        assert spec["issuerRef"]["name"]
        deployment = next(d for d in of_kind(docs, "Deployment") if component(d) == role)
        mounted = {v["secret"]["secretName"] for v in pod_spec(deployment)["volumes"] if "secret" in v}
        own = spec["secretName"]
        assert own in mounted
        others = {c["spec"]["secretName"] for c in of_kind(docs, "Certificate")} - {own}
        assert not mounted & others, f"{role} mounts another workload's or the CA's certificate"


# === The binary's settings ===


@pytest.mark.parametrize("role", ROLES)
def test_every_setting_the_binary_reads_is_reachable_from_values(role: str) -> None:
    settings = serve_settings(role)
    unknown = set(settings) - set(READS) - set(EXEMPT)
    assert not unknown, f"`serve {role} --help` lists {sorted(unknown)}: say in READS which roles read them"
    env = container_env(manifests("every-setting"), role)
    expected = {name for name, readers in READS.items() if role in readers and name in settings}
    missing = expected - set(env)
    assert not missing, f"{role} reads {sorted(missing)} but no values reach them"
    callees = {f"SWITCHBOARD_{c.upper()}_ADDR" for c, who in mesh_callers().items() if role in who}
    allowed = expected | callees | {f"SWITCHBOARD_{role.upper()}_ADDR"} | OUTSIDE_CLAP | PENDING_IN_BINARY
    assert set(env) <= allowed, f"{role} is given {sorted(set(env) - allowed)}"
    assert set(env) - set(settings) <= OUTSIDE_CLAP | PENDING_IN_BINARY


def test_the_binary_has_the_migrate_command() -> None:
    result = subprocess.run([str(binary()), "--help"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert re.search(r"^\s+migrate\s", result.stdout, re.MULTILINE)


def test_the_binary_serves_plaintext_health_for_probes() -> None:
    assert "SWITCHBOARD_HEALTH_ADDR" in serve_settings("gateway")


def test_the_pods_leave_migrations_to_the_job() -> None:
    for role in ROLES:
        assert container_env(manifests("default"), role)["SWITCHBOARD_MIGRATE_ON_START"] == {"value": "false"}, role


def test_chart_defaults_are_the_binarys_defaults() -> None:
    settings = serve_settings("gateway")
    env = {role: container_env(manifests("default"), role) for role in ROLES}
    differ = []
    for name, setting in settings.items():
        default = setting["default"]
        if default in (None, '""') or name in ("SWITCHBOARD_DATA_DIR", "SWITCHBOARD_METRICS_ADDR") or name.endswith("_ADDR"):
            continue  # container paths and addresses are the chart's own
        if name == "SWITCHBOARD_MIGRATE_ON_START":
            continue  # the chart's migration Job migrates, so its pods do not (test_the_pods_leave_migrations_to_the_job)
        for role in READS.get(name, ()):
            value = env[role].get(name, {}).get("value")
            if value is not None and value != default:
                differ.append(f"{role} {name}: chart {value!r}, binary {default!r}")
    assert differ == []


# === The image ===


def test_dockerfile_lints_clean() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_notes_say_how_to_reach_the_gateway_and_create_a_tenant() -> None:
    text = notes("default")
    assert "port-forward service/sb-switchboard-gateway " in text
    assert "switchboard tenant create" in text and "sb-switchboard-operator-tls" in text
    assert "https://api.switchboard.example/" in notes("production")
