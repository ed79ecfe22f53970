"""InfluxDB I/O for attribution: load a window's readings and events, store `batch_result` points.

The only attribution module with I/O; it talks to InfluxDB through cloud.influx alone.
A stored result is replaced (same series, same time: the batch start) only when a fresh
computation differs from it, e.g. after late data landed; its `revision` then goes up by one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cloud import lineprotocol as lp
from cloud.attribution.batches import BatchEvent
from cloud.attribution.counters import Sample
from cloud.attribution.engine import Attribution, Inputs, attribute
from cloud.attribution.model import BatchResult
from cloud.attribution.scrap import Weighing
from cloud.influx import InfluxHttp
from config.plant import PlantModel

MARGIN_MS = 3_600_000
"""Readings and events this far outside the window are loaded too, for boundary interpolation."""
_VOLATILE = {"computed_at_ms", "revision"}


@dataclass(frozen=True)
class Window:
    from_ms: int
    to_ms: int

    def where(self, margin_ms: int = 0) -> str:
        return f"time >= {max(0, self.from_ms - margin_ms)}ms AND time <= {self.to_ms + margin_ms}ms"


@dataclass(frozen=True)
class Outcome:
    written: list[BatchResult]
    unchanged: list[BatchResult]
    attribution: Attribution

    def current(self) -> list[BatchResult]:
        return sorted(self.written + self.unchanged, key=lambda r: (r.start_ms, r.line, r.batch_id))


def _quote(name: str) -> str:
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


async def load_samples(influx: InfluxHttp, plant: PlantModel, window: Window) -> dict[str, list[Sample]]:
    samples: dict[str, list[Sample]] = {}
    for meter in plant.meters:
        q = (f'SELECT "{meter.quantity}" FROM "reading" WHERE "device" = {_quote(meter.id)} '
             f"AND {window.where(MARGIN_MS)}")
        rows = [row for series in await influx.query(q) for row in series.rows()]
        samples[meter.id] = [Sample(int(r["time"]), float(r[meter.quantity])) for r in rows
                             if isinstance(r.get(meter.quantity), int | float)]
    return samples


def _number(row: dict[str, Any], key: str) -> float | None:
    value = row.get(key)
    return float(value) if isinstance(value, int | float) else None


def _batch_event(row: dict[str, Any]) -> BatchEvent:
    counters = json.loads(row["counters"]) if isinstance(row.get("counters"), str) else {}
    return BatchEvent(
        kind=row["kind"], ts_ms=int(row["time"]), line=row.get("line") or "", batch_id=row["batch_id"],
        product=row.get("product") or "", good_units=_number(row, "good_units"),
        reject_units=_number(row, "reject_units"), counters=counters,
    )


def _weighing(row: dict[str, Any]) -> Weighing:
    return Weighing(
        ts_ms=int(row["time"]), device=row["device"], weighing_seq=int(row.get("weighing_seq") or 0),
        mass_kg=float(row.get("mass_kg") or 0.0), category=row.get("category") or "",
        destination=row.get("destination") or "", line=row.get("line") or None,
        batch_id=row.get("batch_id") or None,
    )


async def load_inputs(influx: InfluxHttp, plant: PlantModel, window: Window) -> Inputs:
    q = f'SELECT * FROM "event" WHERE {window.where(MARGIN_MS)}'
    rows = [row for series in await influx.query(q) for row in series.rows()]
    batch_events = [_batch_event(r) for r in rows
                    if r.get("kind") in ("batch_started", "batch_ended") and r.get("batch_id")]
    weighings = [_weighing(r) for r in rows if r.get("kind") == "scrap_weighed"]
    return Inputs(await load_samples(influx, plant, window), batch_events, weighings)


async def load_results(influx: InfluxHttp, window: Window) -> list[BatchResult]:
    rows = [row for s in await influx.query(f'SELECT "detail" FROM "batch_result" WHERE {window.where()}')
            for row in s.rows()]
    return [BatchResult.model_validate_json(r["detail"]) for r in rows if isinstance(r.get("detail"), str)]


def digest(result: BatchResult) -> str:
    """What a result says, without when it was computed: equal digests need no new revision."""
    return hashlib.sha256(result.model_dump_json(exclude=_VOLATILE).encode()).hexdigest()


def result_line(result: BatchResult) -> str:
    fields: dict[str, lp.FieldValue] = {
        "energy_kwh": result.energy_kwh, "shared_energy_kwh": result.shared_energy_kwh,
        "co2e_kg_location": result.co2e_kg_location, "co2e_kg_market": result.co2e_kg_market,
        "completeness": result.completeness, "scrap_total_kg": result.scrap_total_kg,
        "alarms": float(len(result.alarms)), "revision": float(result.revision),
        "computed_at_ms": float(result.computed_at_ms), "end_ms": float(result.end_ms),
        "digest": digest(result), "detail": result.model_dump_json(),
    }
    optional = {"diversion_rate": result.diversion_rate, "good_units": result.good_units,
                "reject_units": result.reject_units}
    fields.update({k: float(v) for k, v in optional.items() if v is not None})
    tags = {"batch_id": result.batch_id, "line": result.line, "product": result.product}
    return lp.line("batch_result", tags, fields, result.start_ms)


def revise(
    fresh: Iterable[BatchResult], stored: list[BatchResult]
) -> tuple[list[BatchResult], list[BatchResult]]:
    """(results to write with their new revision, stored results that still hold)."""
    by_id = {r.batch_id: r for r in stored}
    written, unchanged = [], []
    for result in fresh:
        old = by_id.get(result.batch_id)
        if old is not None and digest(old) == digest(result):
            unchanged.append(old)
        else:
            revision = old.revision + 1 if old is not None else 1
            written.append(result.model_copy(update={"revision": revision}))
    return written, unchanged


async def recompute(influx: InfluxHttp, plant: PlantModel, window: Window, now_ms: int) -> Outcome:
    """Attribute every complete batch starting in the window; write the ones that changed."""
    attribution = attribute(plant, await load_inputs(influx, plant, window), computed_at_ms=now_ms)
    fresh = [r for r in attribution.results if window.from_ms <= r.start_ms <= window.to_ms]
    stored = await load_results(influx, Window(window.from_ms - MARGIN_MS, window.to_ms + MARGIN_MS))
    written, unchanged = revise(fresh, stored)
    if written:
        await influx.write_lines([result_line(r) for r in written], precision="ms")
    return Outcome(written, unchanged, attribution)
