"""Flat rows for lists (batches, aggregates, power curves) and their CSV form (pure).

The JSON list endpoints and the CSV export share these rows, so both always carry the
same columns and numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cloud.attribution.model import Aggregate, BatchResult
from cloud.web.source import PowerCurve

Row = dict[str, Any]

BATCH_COLUMNS = (
    "batch_id", "line", "product", "start_ms", "end_ms", "start", "end", "energy_kwh",
    "shared_energy_kwh", "co2e_kg_location", "co2e_kg_market", "good_units", "reject_units",
    "kwh_per_good_unit", "kwh_per_cell_kwh", "scrap_total_kg", "diversion_rate",
    "diversion_rate_true", "completeness", "alarms", "algorithm_version", "revision",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def batch_row(result: BatchResult) -> Row:
    data = result.model_dump(mode="json")
    row = {name: data.get(name) for name in BATCH_COLUMNS}
    row["start"], row["end"] = iso(result.start_ms), iso(result.end_ms)
    return row


def aggregate_row(item: Aggregate) -> Row:
    return item.model_dump(mode="json")


def power_rows(curve: PowerCurve) -> list[Row]:
    return [
        {"meter": meter, "ts_ms": ts, "time": iso(ts), curve.quantity: value}
        for meter, points in sorted(curve.series.items())
        for ts, value in points
    ]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    elif isinstance(value, dict):
        value = "; ".join(f"{k}={v}" for k, v in value.items())
    text = str(value)
    # a spreadsheet would run a cell starting like a formula; numbers are never strings here
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        text = "'" + text
    return text


def to_csv(rows: Sequence[Row], columns: Sequence[str] | None = None) -> str:
    """RFC 4180 CSV with a header; columns default to the first row's keys."""
    names = list(columns if columns is not None else (rows[0].keys() if rows else ()))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in names])
    return out.getvalue()
