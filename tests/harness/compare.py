"""Report vs ledger: per-batch energy error and the table the demo prints (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

TOLERANCE = 0.005
"""Attributed energy must be within 0.5 % of the ground truth (issue 2)."""


@dataclass(frozen=True)
class BatchComparison:
    batch_id: str
    line: str
    product: str
    start_ms: int | None
    end_ms: int | None
    attributed_kwh: float | None
    truth_kwh: float
    completeness: float | None

    @property
    def error(self) -> float | None:
        """Relative error of the attributed energy; None when the batch is not in the report."""
        if self.attributed_kwh is None:
            return None
        return (self.attributed_kwh - self.truth_kwh) / self.truth_kwh if self.truth_kwh else 0.0

    @property
    def within_tolerance(self) -> bool:
        return self.error is not None and abs(self.error) <= TOLERANCE


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def compare(report: list[dict[str, Any]], ledger: list[dict[str, Any]]) -> list[BatchComparison]:
    """One row per ledger batch, in ledger order; times are the report's (the agent's clock)."""
    found = {str(b.get("batch_id")): b for b in report}
    rows = []
    for truth in ledger:
        batch_id = str(truth["batch_id"])
        got = found.get(batch_id, {})
        start, end = _number(got.get("start_ms")), _number(got.get("end_ms"))
        rows.append(BatchComparison(
            batch_id=batch_id,
            line=str(truth.get("line", "")),
            product=str(truth.get("product", "")),
            start_ms=int(start) if start is not None else None,
            end_ms=int(end) if end is not None else None,
            attributed_kwh=_number(got.get("energy_kwh")),
            truth_kwh=float(truth["energy_kwh"]),
            completeness=_number(got.get("completeness")),
        ))
    return rows


def _clock(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S") if ms is not None else "-"


def _fmt(value: float | None, spec: str) -> str:
    return format(value, spec) if value is not None else "missing"


def format_table(rows: list[BatchComparison]) -> str:
    header = ("batch", "line", "product", "start", "end", "kWh attributed", "kWh truth", "error %",
              "completeness")
    body = [
        (r.batch_id, r.line, r.product, _clock(r.start_ms), _clock(r.end_ms),
         _fmt(r.attributed_kwh, ".3f"), f"{r.truth_kwh:.3f}",
         _fmt(r.error * 100 if r.error is not None else None, "+.3f"),
         _fmt(r.completeness, ".3f"))
        for r in rows
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *body, strict=True)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
