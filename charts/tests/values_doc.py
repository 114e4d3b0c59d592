"""Writes (or checks) the values table of charts/switchboard/README.md from values.yaml's `# --` comments.

    python charts/tests/values_doc.py           # rewrite the table between the README's markers
    python charts/tests/values_doc.py --check   # exit 1 if it is stale (the chart tests do this)
"""

from __future__ import annotations

import json
import sys

from values_model import CHART, leaves

README = CHART / "README.md"
START = "<!-- values:start (charts/tests/values_doc.py writes this table) -->"
END = "<!-- values:end -->"


def _type(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "map"


def table() -> str:
    rows = ["| value | type | default | meaning |", "|---|---|---|---|"]
    for leaf in leaves()[0]:
        default = json.dumps(leaf.value, ensure_ascii=False).replace("|", "\\|")
        doc = leaf.doc.replace("|", "\\|")
        rows.append(f"| `{leaf.dotted}` | {_type(leaf.value)} | `{default}` | {doc} |")
    return "\n".join(rows)


def rendered(readme: str) -> str:
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main() -> int:
    current = README.read_text()
    text = rendered(current)
    if "--check" in sys.argv[1:]:
        if current != text:
            print(f"{README}'s values table is stale: run `python charts/tests/values_doc.py`", file=sys.stderr)
            return 1
        return 0
    README.write_text(text)
    print(f"wrote the values table of {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
