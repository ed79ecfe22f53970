"""Scenario figures: recorded by each test as JSON, rendered into docs/reliability.md.

Each run merges its scenarios into the figures kept (as JSON, in a comment) at the end of
the page, so running one scenario updates its table without erasing the others'.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
_BLOB = re.compile(r"<!-- figures\n(.*)\n-->", re.S)

HEADER = """# Reliability figures

Written by the fault tier (`pytest -m faults tests/faults`); do not edit by hand.
Every scenario runs at a steady load of at least 100 readings/s and passes only with
0 lost and 0 duplicated readings, classified by `tests/faults/checker.py` from what was
sent (a test publisher's record or a tap on the broker), what the outboxes still hold and
what InfluxDB stores. A scenario marked *xfail* fails because of the bug named in its
reason; its figures are those of the failing run.
"""


class FigureFile:
    """Append-only JSON lines of {scenario, outcome, figures} for one pytest session."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, scenario: str, figures: dict[str, Any], node: str, note: str = "") -> None:
        entry = {"scenario": scenario, "figures": figures, "note": note, "node": node,
                 "run": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        with self.path.open("a") as out:
            out.write(json.dumps(entry) + "\n")

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def _kept(doc: Path) -> dict[str, dict[str, Any]]:
    if not doc.exists():
        return {}
    found = _BLOB.search(doc.read_text())
    data: dict[str, dict[str, Any]] = json.loads(found.group(1)) if found else {}
    return data


def _table(entry: dict[str, Any]) -> str:
    rows = "\n".join(f"| {name} | {value} |" for name, value in entry["figures"].items())
    note = f"\n{entry['note']}\n" if entry.get("note") else ""
    return (f"## {entry['scenario']}\n\nOutcome: **{entry.get('outcome', '?')}** (run {entry['run']})\n"
            f"{note}\n| figure | value |\n| --- | --- |\n{rows}\n")


def render(entries: list[dict[str, Any]], doc: Path = DOC) -> None:
    merged = _kept(doc)
    for entry in entries:
        merged[entry["scenario"]] = entry
    body = "\n".join(_table(merged[name]) for name in sorted(merged))
    blob = json.dumps(merged, indent=1, sort_keys=True)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(f"{HEADER}\n{body}\n<!-- figures\n{blob}\n-->\n")
