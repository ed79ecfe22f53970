"""Report rows from batch results, formatted as JSON (the contract's report.json), CSV or text."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Protocol, TypeVar

from cloud.attribution.aggregates import aggregate
from cloud.attribution.model import BatchResult, BatchSummary

CONTRACT_FIELDS = (
    "batch_id", "line", "product", "start_ms", "end_ms", "energy_kwh", "completeness",
    "energy_by_meter_kwh", "shared_energy_kwh", "co2e_kg_location", "co2e_kg_market", "scrap_kg",
    "scrap_by_destination_kg", "diversion_rate", "good_units", "reject_units", "alarms", "algorithm_version",
)
"""Per batch in report.json (docs/contracts.md); the extras below follow them."""
EXTRA_FIELDS = (
    "shared_by_meter_kwh", "co2e_kg_by_factor_set", "factor_sets", "kwh_per_good_unit", "kwh_per_cell_kwh",
    "scrap_total_kg", "diversion_rate_true", "energy_recovery_kg", "revision", "computed_at_ms",
)


class Listed(Protocol):
    """What selecting and ordering needs: a whole result or a stored summary."""

    @property
    def batch_id(self) -> str: ...
    @property
    def line(self) -> str: ...
    @property
    def product(self) -> str: ...
    @property
    def start_ms(self) -> int: ...


L = TypeVar("L", bound=Listed)


def row(result: BatchResult) -> dict[str, Any]:
    data = result.model_dump()
    return {name: data[name] for name in CONTRACT_FIELDS + EXTRA_FIELDS}


def select(
    results: list[L], from_ms: int | None = None, to_ms: int | None = None,
    line: str | None = None, product: str | None = None,
) -> list[L]:
    """Batches that start in [from_ms, to_ms) on the line and of the product asked for."""
    return sorted(
        (r for r in results
         if (from_ms is None or r.start_ms >= from_ms) and (to_ms is None or r.start_ms < to_ms)
         and (line is None or r.line == line) and (product is None or r.product == product)),
        key=lambda r: (r.start_ms, r.line, r.batch_id),
    )


def to_json(results: list[BatchResult]) -> str:
    return json.dumps([row(r) for r in results], indent=1) + "\n"


def summaries_to_json(summaries: list[BatchSummary]) -> str:
    """A list of batches from their stored numbers only (no per-meter maps): the fast listing."""
    return json.dumps([s.model_dump() for s in summaries], indent=1) + "\n"


def to_csv(results: list[BatchResult]) -> str:
    """One row per batch; maps and lists are JSON text in their cell."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(CONTRACT_FIELDS + EXTRA_FIELDS), lineterminator="\n")
    writer.writeheader()
    for r in results:
        writer.writerow({k: json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v
                         for k, v in row(r).items()})
    return out.getvalue()


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def to_text(results: list[BatchResult]) -> str:
    head = (f"{'batch':<12} {'line':<8} {'product':<12} {'kWh':>10} {'shared':>9} {'kgCO2e loc':>11} "
            f"{'kgCO2e mkt':>11} {'good':>7} {'scrap kg':>9} {'divert':>7} {'complete':>8} alarms")
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.batch_id:<12} {r.line:<8} {r.product:<12} {_num(r.energy_kwh):>10} "
            f"{_num(r.shared_energy_kwh):>9} {_num(r.co2e_kg_location):>11} {_num(r.co2e_kg_market):>11} "
            f"{_num(r.good_units, 0):>7} {_num(r.scrap_total_kg):>9} {_num(r.diversion_rate, 3):>7} "
            f"{r.completeness:>8.3f} {len(r.alarms)}"
        )
    for by in ("line", "product"):
        lines += ["", f"per {by}:"]
        lines += [f"  {a.key:<14} batches {a.batches:>3}  kWh {_num(a.energy_kwh + a.shared_energy_kwh):>10}"
                  f"  kWh/unit {_num(a.kwh_per_good_unit, 3):>8}  kgCO2e loc {_num(a.co2e_kg_location):>9}"
                  f"  mkt {_num(a.co2e_kg_market):>9}  divert {_num(a.diversion_rate, 3)}"
                  for a in aggregate(results, by)]
    alarms = [f"  {r.batch_id}: {alarm}" for r in results for alarm in r.alarms]
    return "\n".join(lines + (["", "alarms:", *alarms] if alarms else [])) + "\n"


FORMATS = {"json": to_json, "csv": to_csv, "text": to_text}
