"""The results source on InfluxDB: stored `batch_result` points and the meters' readings.

Results are read as cloud/results.py stores them (the `detail` JSON of each point); power
curves are the `power_w` readings of a batch's own meters, or, for a meter that has no power
register, the power implied by its energy counter between consecutive readings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from cloud.attribution.aggregates import aggregate
from cloud.attribution.model import Aggregate, AggregateKey, BatchResult
from cloud.influx import InfluxHttp
from cloud.results import Window, load_results
from cloud.web.source import BatchFilter, PowerCurve

END_OF_TIME_MS = 9_000_000_000_000
"""Year 2255: inside InfluxDB's time range, past any batch."""
MS_PER_HOUR = 3_600_000


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def latest_per_batch(results: Sequence[BatchResult]) -> list[BatchResult]:
    """One result per batch id: a recomputation that moved a batch's start leaves the old point."""
    best: dict[str, BatchResult] = {}
    for r in results:
        old = best.get(r.batch_id)
        if old is None or (r.revision, r.computed_at_ms) > (old.revision, old.computed_at_ms):
            best[r.batch_id] = r
    return sorted(best.values(), key=lambda r: (r.start_ms, r.batch_id))


def power_from_counter(samples: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """Mean power (W) between consecutive kWh counter readings, stamped at the later one.

    A drop (reset, rollover, swap) gives no point rather than a negative or a spike.
    """
    points = []
    for (t0, e0), (t1, e1) in pairwise(samples):
        if t1 > t0 and e1 >= e0:
            points.append((t1, (e1 - e0) * 1000.0 * MS_PER_HOUR / (t1 - t0)))
    return points


@dataclass
class InfluxResultsSource:
    influx: InfluxHttp
    counter_quantity: str = "energy_import_kwh"

    async def list_batches(self, query: BatchFilter) -> list[BatchResult]:
        window = Window(query.from_ms or 0, query.to_ms if query.to_ms is not None else END_OF_TIME_MS)
        stored = latest_per_batch(await load_results(self.influx, window))
        return [r for r in stored if query.matches(r)]

    async def get_batch(self, batch_id: str) -> BatchResult | None:
        q = f'SELECT "detail" FROM "batch_result" WHERE "batch_id" = {_quote(batch_id)}'
        rows = [row for s in await self.influx.query(q) for row in s.rows()]
        latest = latest_per_batch(
            [BatchResult.model_validate_json(r["detail"]) for r in rows if isinstance(r.get("detail"), str)]
        )
        return latest[0] if latest else None

    async def power_curve(self, batch: BatchResult) -> PowerCurve:
        meters = sorted(batch.energy_by_meter_kwh)
        power = await self._series(meters, "power_w", batch)
        missing = [m for m in meters if not power.get(m)]
        counters = await self._series(missing, self.counter_quantity, batch) if missing else {}
        for meter in missing:
            power[meter] = power_from_counter(counters.get(meter, []))
        return PowerCurve(batch.batch_id, batch.start_ms, batch.end_ms, power)

    async def _series(
        self, meters: Sequence[str], quantity: str, batch: BatchResult,
    ) -> dict[str, list[tuple[int, float]]]:
        if not meters:
            return {}
        devices = " OR ".join(f'"device" = {_quote(m)}' for m in meters)
        q = (f'SELECT "{quantity}" FROM "reading" WHERE ({devices}) '
             f'AND time >= {batch.start_ms}ms AND time <= {batch.end_ms}ms GROUP BY "device"')
        out: dict[str, list[tuple[int, float]]] = {}
        for series in await self.influx.query(q):
            points = [(int(r["time"]), float(r[quantity])) for r in series.rows()
                      if isinstance(r.get(quantity), int | float)]
            out.setdefault(series.tags.get("device", ""), []).extend(points)
        return out

    async def aggregates(self, by: AggregateKey, query: BatchFilter) -> list[Aggregate]:
        return aggregate(await self.list_batches(query), by)
