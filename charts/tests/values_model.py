"""The chart's values as documented leaves: the one reading of values.yaml that the schema generator
(schema.py), the README table (values_doc.py) and the tests share.

A *leaf* is a value the operator sets as a whole: a scalar, a list, a map written on the key's own line
(`annotations: {}`, `existingSecrets: {gateway: "", ...}`), or a block map documented as a whole whose children
carry no comments of their own (`resources:`). Every leaf carries the
`# -- ` comment written right above it (continued by `#   ` lines); a map of leaves may have one too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent.parent / "switchboard"
VALUES = CHART / "values.yaml"

_KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z0-9_.\-/]+):(?:\s+(?P<rest>.*))?$")


@dataclass
class Leaf:
    """One documented value."""

    path: tuple[str, ...]
    doc: str
    value: Any

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


def load_values(path: Path = VALUES) -> dict[str, Any]:
    with open(path) as f:
        return yaml.safe_load(f)


def _get(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = values
    for key in path:
        node = node[key]
    return node


def leaves(path: Path = VALUES) -> tuple[list[Leaf], dict[tuple[str, ...], str]]:
    """Every leaf in file order, and the docs of the maps that have one (by path)."""
    values = load_values(path)
    found: list[Leaf] = []
    map_docs: dict[tuple[str, ...], str] = {}
    stack: list[tuple[int, str]] = []
    doc: list[str] | None = None
    skip_deeper_than: int | None = None
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if skip_deeper_than is not None:
            if not stripped or indent > skip_deeper_than:
                continue
            skip_deeper_than = None
        if not stripped:
            doc = None
            continue
        if stripped.startswith("# --"):
            doc = [stripped[len("# --") :].strip()]
            continue
        if stripped.startswith("#"):
            if doc is not None and line.lstrip().startswith("#   "):
                doc.append(stripped[1:].strip())
            else:
                doc = None
            continue
        match = _KEY.match(line)
        if not match:
            raise ValueError(f"values.yaml: cannot read line {line!r}")
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key_path = tuple(k for _, k in stack) + (match["key"],)
        value = _get(values, key_path)
        text = " ".join(doc) if doc else ""
        doc = None
        # A block map is a map of leaves unless it is documented as a whole and its first child is not.
        following = lines[number + 1].strip() if number + 1 < len(lines) else ""
        documented_whole = bool(text) and not following.startswith("#")
        if isinstance(value, dict) and value and not match["rest"] and not documented_whole:
            stack.append((indent, match["key"]))
            if text:
                map_docs[key_path] = text
            continue
        found.append(Leaf(key_path, text, value))
        if not match["rest"]:
            skip_deeper_than = indent
    return found, map_docs
