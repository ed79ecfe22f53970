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

Written by the fault tier (`pytest tests/faults tests/unit/test_loader_hostile.py`); do not
edit by hand: each run rewrites the tables of the scenarios it ran and keeps the others.

## How the figures are made

- **Load.** Collector scenarios: a test gateway (`tests/faults/gateway.py`) publishes 20
  readings every 100 ms (200 readings/s, 2 quantities each) with the agent's wire behaviour:
  per-gateway `seq`, QoS 1, delete on ack, re-send after 2 s. Plant scenarios: the simulated
  plant `tests/faults/plants/steady.yaml` (13 devices polled every 0.1 s = 130 device
  reads/s, ~11 quantities each) through the real agent, broker, collector and InfluxDB.
- **Sent.** The test gateway's own record; for the real agent, a wire tap (a non-shared
  subscriber on the broker) records every readings message, first sends and re-sends.
- **Classes** (`tests/faults/checker.py`), per value identity (gateway, device, quantity,
  ts_ms): *stored once* (present with the sent value), *lost* (absent, and its message not
  pending in an outbox), *corrupted* (present with another value), *duplicated*,
  *unexpected* (stored, never sent, matching no sent read).
- **Duplicated.** InfluxDB keeps one point per series + timestamp, so re-delivering a reading
  under its own identity is invisible and harmless (that is the idempotence the design relies
  on). Double counting can only appear as the same read stored under a *second* identity (a
  re-polled or re-stamped reading: a stored point nobody sent whose values equal one sent read
  of that device; the test gateway's counters make every read unique, and a match on values
  that repeat, e.g. an idle controller, is not counted) or as one `seq` carrying two different
  sets of readings (*seq conflicts*). *Seq gaps* are seqs below a gateway's highest stored one
  that InfluxDB lacks (messages lost before the tap could see them).
- **Batch energy.** The report (`batchmeter-cloud report`) against the simulator's ledger,
  tolerance 0.5 % as in the e2e tier.

A scenario passes only with 0 lost, 0 duplicated, 0 seq conflicts (and for plants 0 seq
gaps and every batch within tolerance). *xfail* marks a scenario failing because of the bug
named in its test's reason; its figures are those of the failing run.
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
