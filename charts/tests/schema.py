"""Writes (or checks) charts/switchboard/values.schema.json from values.yaml.

Every map of values.yaml becomes an object that refuses unknown keys (a misspelt value fails the install instead of
being ignored); every leaf gets the type of its default, its `# --` comment as description, and the constraints
below where the type alone says too little. Helm validates values against the file on install, upgrade, template
and lint, so a wrong type never reaches a template.

    python charts/tests/schema.py           # rewrite values.schema.json
    python charts/tests/schema.py --check   # exit 1 if it is stale (the chart tests do this)
"""

from __future__ import annotations

import fnmatch
import json
import sys
from typing import Any

from values_model import CHART, leaves, load_values

SCHEMA = CHART / "values.schema.json"

STRINGS = {"type": "array", "items": {"type": "string"}}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
OBJECTS = {"type": "array", "items": {"type": "object"}}
PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
QUANTITY = {"anyOf": [{"type": "string", "pattern": r"^[0-9.]+([eE][0-9]+|m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$"}, {"type": "number", "minimum": 0}]}
RESOURCE_LIST = {"type": "object", "additionalProperties": QUANTITY}
GO_DURATION = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"}
ALLOW_DENY = {"type": "string", "enum": ["allow", "deny"]}
NETWORK_PORTS = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["port"],
        "properties": {
            "port": {"anyOf": [PORT, {"type": "string", "minLength": 1}]},
            "endPort": PORT,
            "protocol": {"type": "string", "enum": ["TCP", "UDP", "SCTP"]},
        },
    },
}

# Constraints beyond the default's type, by dotted path (`*` matches one key).
OVERRIDES: dict[str, dict[str, Any]] = {
    "commonLabels": STRING_MAP,
    "image.pullPolicy": {"type": "string", "enum": ["Always", "IfNotPresent", "Never"]},
    "image.digest": {"type": "string", "pattern": r"^(sha256:[a-f0-9]{64})?$"},
    "image.repository": {"type": "string", "minLength": 1},
    "imagePullSecrets": STRINGS,
    "serviceAccount.annotations": STRING_MAP,
    "securityContext.*": {"type": "integer", "minimum": 1},
    "ports.*": PORT,
    "ports.metrics": {"type": "integer", "minimum": 0, "maximum": 65535},
    "logLevel": {"type": "string", "minLength": 1},
    "terminationGracePeriodSeconds": {"type": "integer", "minimum": 1},
    "probes.*": {"type": "integer", "minimum": 1},
    "database.url": {"type": "string", "pattern": r"^(postgres(ql)?://.+)?$"},
    "migrations.resources": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"requests": RESOURCE_LIST, "limits": RESOURCE_LIST},
    },
    "kafka.batchMessages": {"type": "integer", "minimum": 1},
    "kafka.sasl.mechanism": {"type": "string", "enum": ["", "SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"]},
    "events.*": {"type": "integer", "minimum": 1},
    "mtls.certManager.issuerRef.kind": {"type": "string", "enum": ["Issuer", "ClusterIssuer"]},
    "mtls.certManager.duration": GO_DURATION,
    "mtls.certManager.renewBefore": GO_DURATION,
    "mtls.existingSecrets": {
        "type": "object",
        "additionalProperties": False,
        "properties": {r: {"type": "string"} for r in ("gateway", "orchestrator", "connectors", "audit")},
    },
    "*.replicas": {"type": "integer", "minimum": 0},
    "*.resources": {
        "type": "object",
        "additionalProperties": False,
        "required": ["requests", "limits"],
        "properties": {"requests": RESOURCE_LIST, "limits": RESOURCE_LIST},
    },
    "*.autoscaling.minReplicas": {"type": "integer", "minimum": 1},
    "*.autoscaling.maxReplicas": {"type": "integer", "minimum": 1},
    "*.autoscaling.targetCPUUtilizationPercentage": {"type": "integer", "minimum": 1, "maximum": 100},
    "*.podDisruptionBudget.maxUnavailable": {
        "anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": r"^[0-9]+%$"}]
    },
    "*.topologySpread.maxSkew": {"type": "integer", "minimum": 1},
    "*.topologySpread.topologyKeys": STRINGS,
    "*.nodeSelector": STRING_MAP,
    "*.tolerations": OBJECTS,
    "*.affinity": {"type": "object"},
    "*.podAnnotations": STRING_MAP,
    "*.podLabels": STRING_MAP,
    "*.extraEnv": {
        "type": "array",
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
                "value": {"type": "string"},
                "valueFrom": {"type": "object"},
            },
        },
    },
    "gateway.service.type": {"type": "string", "enum": ["ClusterIP", "LoadBalancer", "NodePort"]},
    "gateway.service.port": PORT,
    "gateway.service.annotations": STRING_MAP,
    "gateway.service.loadBalancerSourceRanges": STRINGS,
    "gateway.rateLimitOnStoreError": ALLOW_DENY,
    "gateway.revocationOnCacheError": ALLOW_DENY,
    "gateway.trustedProxies": STRINGS,
    "gateway.corsOrigins": STRINGS,
    "gateway.*Ttl": {"type": "integer", "minimum": 1},
    "gateway.*Lifetime": {"type": "integer", "minimum": 1},
    "gateway.*PerMinute": {"type": "integer", "minimum": 1},
    "gateway.maxConnections*": {"type": "integer", "minimum": 1},
    "orchestrator.dataVolume": {"type": "object"},
    "orchestrator.models.order": {"type": "array", "items": {"type": "string", "enum": ["openai", "anthropic"]}},
    "orchestrator.models.*Secs": {"type": "integer", "minimum": 1},
    "orchestrator.models.maxTokens": {"type": "integer", "minimum": 1},
    "connectors.oauthRedirectUris": STRINGS,
    "connectors.providers.hubspot.scopes": STRINGS,
    "connectors.providers.quickbooks.minorVersion": {"type": "integer", "minimum": 75},
    "ingress.hosts": STRINGS,
    "ingress.tls": {
        "type": "array",
        "items": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"secretName": {"type": "string"}, "hosts": STRINGS},
        },
    },
    "ingress.annotations": STRING_MAP,
    "ingress.*.annotations": STRING_MAP,
    "ingress.grpc.hosts": STRINGS,
    "networkPolicy.*From": OBJECTS,
    "networkPolicy.egress.*.to": OBJECTS,
    "networkPolicy.egress.*.ports": NETWORK_PORTS,
}


def _override(dotted: str) -> dict[str, Any] | None:
    # The most specific pattern wins: an exact path, then the pattern with the fewest wildcards.
    if dotted in OVERRIDES:
        return OVERRIDES[dotted]
    matches = [p for p in OVERRIDES if "*" in p and p.count(".") == dotted.count(".") and fnmatch.fnmatchcase(dotted, p)]
    if not matches:
        return None
    return OVERRIDES[min(matches, key=lambda p: (p.count("*"), -len(p)))]


def _inferred(value: Any, dotted: str) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer", "minimum": 0}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return STRINGS
    raise SystemExit(f"schema.py: {dotted} ({value!r}) needs an entry in OVERRIDES")


def build() -> dict[str, Any]:
    values = load_values()
    found, map_docs = leaves()
    root: dict[str, Any] = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Switchboard chart values",
        "type": "object",
        "additionalProperties": False,
        "properties": {},
    }
    for leaf in found:
        node = root
        for depth, key in enumerate(leaf.path[:-1]):
            prefix = leaf.path[: depth + 1]
            child = node["properties"].setdefault(
                key, {"type": "object", "additionalProperties": False, "properties": {}}
            )
            if prefix in map_docs:
                child["description"] = map_docs[prefix]
            node = child
        schema = dict(_override(leaf.dotted) or _inferred(leaf.value, leaf.dotted))
        schema["description"] = leaf.doc
        node["properties"][leaf.path[-1]] = schema
    # Every map of values.yaml must be whole: a key the file has that no leaf covers is a bug here.
    assert set(root["properties"]) == set(values), set(values) ^ set(root["properties"])
    return root


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if SCHEMA.read_text() != text:
            print(f"{SCHEMA} is stale: run `python charts/tests/schema.py`", file=sys.stderr)
            return 1
        return 0
    SCHEMA.write_text(text)
    print(f"wrote {SCHEMA}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
