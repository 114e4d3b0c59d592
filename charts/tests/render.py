"""Rendering the chart with Helm's own engine (helm-python-sdk: Helm v4 as a library, no helm binary), and the facts
the tests compare it with: the contracts' mesh rights, the binary's settings."""

from __future__ import annotations

import functools
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

from values_model import CHART

REPO = CHART.parent.parent
TESTS = Path(__file__).resolve().parent
RELEASE = "sb"
NAMESPACE = "switchboard"
ROLES = ("gateway", "orchestrator", "connectors", "audit")

# The values files every test runs over: the defaults, the production example, and every option turned on.
VALUE_FILES: dict[str, Path | None] = {
    "default": None,
    "production": CHART / "ci" / "production-values.yaml",
    "every-setting": TESTS / "values" / "every-setting.yaml",
}


def load(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    with open(path) as f:
        return yaml.safe_load(f)


def render_values(values: dict[str, Any] | None) -> dict[str, str]:
    """Template path -> rendered text (as `helm template` would, with `lookup` finding nothing)."""
    with helm.Chart.load(str(CHART)) as chart:
        return chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)


@functools.cache
def manifests(name: str) -> tuple[dict[str, Any], ...]:
    """Every object the chart renders for one of VALUE_FILES (NOTES.txt aside)."""
    rendered = render_values(load(VALUE_FILES[name]))
    docs: list[dict[str, Any]] = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return tuple(docs)


@functools.cache
def notes(name: str) -> str:
    rendered = render_values(load(VALUE_FILES[name]))
    return next(text for template, text in rendered.items() if template.endswith("NOTES.txt"))


def of_kind(docs: tuple[dict[str, Any], ...], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def component(obj: dict[str, Any]) -> str | None:
    return obj["metadata"].get("labels", {}).get("app.kubernetes.io/component")


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


# === The contracts: who may call which service ===

_PROTO_ROLE = {"audit": "audit", "connectors": "connectors", "orchestrator": "orchestrator", "auth": "gateway"}


@functools.cache
def mesh_callers() -> dict[str, frozenset[str]]:
    """Role -> the workloads the contracts allow to call any method it serves (`mesh_callers`)."""
    callers: dict[str, set[str]] = {role: set() for role in ROLES}
    for proto in sorted((REPO / "proto" / "switchboard").rglob("*.proto")):
        area = proto.relative_to(REPO / "proto" / "switchboard").parts[0]
        if area not in _PROTO_ROLE:
            continue
        for match in re.finditer(r"mesh_callers:\s*\[([^\]]*)\]", proto.read_text()):
            callers[_PROTO_ROLE[area]].update(re.findall(r'"([a-z0-9-]+)"', match.group(1)))
    return {role: frozenset(who) for role, who in callers.items()}


# === The binary: the settings `switchboard serve <role>` reads ===


def binary() -> Path:
    """SWITCHBOARD_BIN (the binary, or the directory holding it)."""
    configured = os.environ.get("SWITCHBOARD_BIN")
    if not configured:
        target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache" / "switchboard-target"))
        configured = str(Path(target) / "debug")
    path = Path(configured)
    if path.is_dir():
        path = path / "switchboard"
    return path


@functools.cache
def serve_settings(role: str) -> dict[str, dict[str, Any]]:
    """Environment variable -> {hidden: bool (clap hides its value: a secret), default: str | None} from
    `switchboard serve <role> --help`."""
    path = binary()
    if not path.is_file():
        raise RuntimeError(
            f"no switchboard binary at {path}: build it (`cargo build -p switchboard`) or set SWITCHBOARD_BIN to it"
        )
    # A clean environment: clap prints a variable's current value in the help when it is set.
    text = subprocess.run(
        [str(path), "serve", role, "--help"], check=True, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
    ).stdout
    settings: dict[str, dict[str, Any]] = {}
    # One option per paragraph: `--flag <X>\n  help text [env: NAME=] [default: V]`.
    for block in re.split(r"\n(?=\s+-)", text):
        env = re.search(r"\[env: ([A-Z0-9_]+)(=?)[^\]]*\]", block)
        if not env:
            continue
        default = re.search(r"\[default: ([^\]]*)\]", block)
        settings[env.group(1)] = {
            "hidden": env.group(2) != "=",
            "default": default.group(1) if default else None,
        }
    return settings
