"""What a benchmark reports: named numbers, optionally beside the limit measured in the same run.

`ratio` is value / limit, so 0.8 means "80 % of the ceiling" for a rate and "0.8 x the floor"
for a cost; the table says which by the unit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Entry:
    name: str
    value: float
    unit: str
    limit: float | None = None
    note: str = ""
    stage: str = ""

    @property
    def ratio(self) -> float | None:
        if self.limit is None or self.limit == 0:
            return None
        return self.value / self.limit

    def as_json(self) -> dict[str, Any]:
        # NaN marks a stage that could not be measured; JSON has no NaN, so it becomes null
        value = _round(self.value) if math.isfinite(self.value) else None
        out: dict[str, Any] = {"name": self.name, "value": value, "unit": self.unit}
        if self.limit is not None:
            out["limit"] = _round(self.limit)
            ratio = self.ratio
            out["ratio"] = None if ratio is None else round(ratio, 4)
        if self.note:
            out["note"] = self.note
        if self.stage:
            out["stage"] = self.stage
        return out


def _round(value: float) -> float:
    """Four significant digits: more is noise on a shared machine."""
    return float(f"{value:.4g}")


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def table(entries: Iterable[Entry]) -> str:
    rows = [("name", "value", "unit", "limit", "ratio", "note")]
    for e in entries:
        rows.append((e.name, _fmt(e.value), e.unit, _fmt(e.limit), _fmt(e.ratio), e.note))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:5], widths[1:5], strict=True)]
        lines.append("  ".join([*cells, row[5]]).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths[:5]) + "  ----")
    return "\n".join(lines)


def markdown(entries: Iterable[Entry]) -> str:
    lines = ["| name | value | unit | limit | ratio | note |", "| --- | ---: | --- | ---: | ---: | --- |"]
    for e in entries:
        lines.append(
            f"| {e.name} | {_fmt(e.value)} | {e.unit} | {_fmt(e.limit)} | {_fmt(e.ratio)} | {e.note} |"
        )
    return "\n".join(lines)


def write_json(entries: Iterable[Entry], path: Path, order: list[str] | None = None) -> None:
    """Write `entries`; with `order` (stage names), keep the file's rows of the other stages."""
    rows = [e.as_json() for e in entries]
    if order is not None and path.exists():
        fresh = {row.get("stage") for row in rows}
        kept = [row for row in json.loads(path.read_text()) if row.get("stage") not in fresh]
        rank = {name: index for index, name in enumerate(order)}
        rows = sorted(kept + rows, key=lambda row: rank.get(row.get("stage", ""), len(rank)))
    path.write_text(json.dumps(rows, indent=2) + "\n")
