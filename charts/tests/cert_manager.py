"""JSON schemas for the two cert-manager kinds the chart renders (cert-manager.io/v1 Certificate and Issuer),
which the Kubernetes schemas do not cover. Written from cert-manager's v1 API reference, field by field, and strict
the same way kubernetes-validate --strict is: an unknown field or a misspelt enum value fails."""

from __future__ import annotations

from typing import Any

import jsonschema

_STRINGS = {"type": "array", "items": {"type": "string"}}
_USAGES = [
    "signing", "digital signature", "content commitment", "key encipherment", "key agreement",
    "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth",
    "client auth", "code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel", "ipsec user",
    "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc",
]
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "additionalProperties": False,
}
_ISSUER_REF = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1}, "kind": {"type": "string"}, "group": {"type": "string"}},
    "additionalProperties": False,
}


def _kind(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "cert-manager.io/v1"},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
        "additionalProperties": False,
    }


CERTIFICATE = _kind(
    "Certificate",
    {
        "type": "object",
        "required": ["secretName", "issuerRef"],
        "properties": {
            "secretName": {"type": "string", "minLength": 1},
            "commonName": {"type": "string", "maxLength": 64},
            "dnsNames": _STRINGS,
            "uris": _STRINGS,
            "ipAddresses": _STRINGS,
            "emailAddresses": _STRINGS,
            "duration": {"type": "string"},
            "renewBefore": {"type": "string"},
            "isCA": {"type": "boolean"},
            "usages": {"type": "array", "items": {"enum": _USAGES}},
            "issuerRef": _ISSUER_REF,
            "privateKey": {
                "type": "object",
                "properties": {
                    "algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]},
                    "size": {"type": "integer"},
                    "encoding": {"enum": ["PKCS1", "PKCS8"]},
                    "rotationPolicy": {"enum": ["Never", "Always"]},
                },
                "additionalProperties": False,
            },
            "secretTemplate": {"type": "object"},
            "subject": {"type": "object"},
            "revisionHistoryLimit": {"type": "integer"},
        },
        "additionalProperties": False,
    },
)

ISSUER = _kind(
    "Issuer",
    {
        "type": "object",
        "properties": {
            "selfSigned": {
                "type": "object",
                "properties": {"crlDistributionPoints": _STRINGS},
                "additionalProperties": False,
            },
            "ca": {
                "type": "object",
                "required": ["secretName"],
                "properties": {
                    "secretName": {"type": "string", "minLength": 1},
                    "crlDistributionPoints": _STRINGS,
                    "ocspServers": _STRINGS,
                    "issuingCertificateURLs": _STRINGS,
                },
                "additionalProperties": False,
            },
        },
        "minProperties": 1,
        "maxProperties": 1,
        "additionalProperties": False,
    },
)


def validate(doc: dict[str, Any]) -> None:
    """Raises jsonschema.ValidationError when `doc` is not a valid Certificate or Issuer."""
    jsonschema.validate(doc, {"Certificate": CERTIFICATE, "Issuer": ISSUER}[doc["kind"]])
