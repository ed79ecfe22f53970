"""Reports: time to attribute one batch, and to list 1,000 batches, over a loaded plant.

Uses the attribution part's own I/O (cloud/results.py) and report formatting
(cloud/reports.py), in process, against a real InfluxDB holding bench.plant_data's plant:
- one batch: `recompute` of exactly that batch (the batches starting at its start: it loads
  the events around it and the readings that batch needs, attributes, compares with and
  writes the stored result). Beside it, the store's own floor: InfluxDB answering the same
  events query and the batch's counter readings in MessagePack (as the recompute asks for
  them), the answers read but not parsed;
- 1,000 batches: `load_summaries` over the whole span (each result's numeric fields, no
  `detail`), `select`, `summaries_to_json`: what a list needs. Beside it, the full-detail
  listing (`load_results`, `select`, `to_json`), for comparison.
The 1,000 stored results are the measured batch's real result re-stamped per batch (id,
line, times), written with `result_line`: listing cost depends on how many results there
are and how big, not on their numbers, and attributing all of them first would take longer
than the whole benchmark run.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from bench.options import Options
from bench.plant_data import Plant, Scale, covered_batch, load, write_plant_file
from bench.results import Entry
from bench.services import influxdb
from cloud.attribution.model import BatchResult
from cloud.influx import InfluxHttp
from cloud.reports import select, summaries_to_json, to_json
from cloud.results import (
    Window,
    events_query,
    load_results,
    load_summaries,
    meters_for,
    recompute,
    result_line,
    span_queries,
)
from config.plant import PlantModel, load_plant
from tests.servers import InfluxDB

SLOW_S = 10.0
"""A single run slower than this is not repeated: one number is enough to miss a 100 ms target."""


async def _timed(action: Callable[[], Awaitable[object]], repeats: int) -> float:
    """Median seconds of `action` over up to `repeats` runs (the first one included)."""
    times: list[float] = []
    for _ in range(repeats):
        began = time.perf_counter()
        await action()
        times.append(time.perf_counter() - began)
        if times[-1] > SLOW_S:
            break
    return statistics.median(times)


def _restamped(template: BatchResult, plant: Plant) -> list[str]:
    return [
        result_line(template.model_copy(update={
            "batch_id": batch_id, "line": line, "start_ms": start * 1000, "end_ms": end * 1000}))
        for batch_id, line, start, end in plant.windows()
    ]


def _store_floor(
    server: InfluxDB, model: PlantModel, line: str, batch: Window
) -> Callable[[], Awaitable[object]]:
    """What a recompute of one batch must have InfluxDB send at least: its queries, unparsed."""
    events = events_query(Window(batch.from_ms, batch.from_ms))
    readings = span_queries(meters_for(model, {line}), batch, model.glitch_max_samples + 1)

    async def ask(client: httpx.AsyncClient, q: str) -> bytes:
        response = await client.post("/query", params={"db": server.database, "q": q, "epoch": "ms"})
        response.raise_for_status()
        return response.content

    async def floor() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=600,
                                     headers={"Accept-Encoding": "identity",
                                              "Accept": "application/x-msgpack"}) as client:
            await ask(client, events)
            await asyncio.gather(*(ask(client, q) for q in readings))

    return floor


async def _measure(
    influx: InfluxHttp, server: InfluxDB, model: PlantModel, plant: Plant, options: Options
) -> tuple[float, float, float, float, int]:
    batch_id, line, start, end = covered_batch(plant, options.report_margin_s)
    one = Window(start * 1000, start * 1000)
    now_ms = int(time.time() * 1000)
    outcome = await recompute(influx, model, one, now_ms)
    template = next(r for r in outcome.current() if r.batch_id == batch_id)
    attribute_s = await _timed(lambda: recompute(influx, model, one, now_ms), options.report_repeats)
    floor_s = await _timed(_store_floor(server, model, line, Window(start * 1000, end * 1000)),
                           options.report_repeats)
    lines = _restamped(template, plant)
    for first in range(0, len(lines), 500):
        await influx.write_lines(lines[first : first + 500], precision="ms")
    span = Window(plant.start_s * 1000, plant.end_s * 1000)

    async def listing() -> str:
        return summaries_to_json(select(await load_summaries(influx, span)))

    async def full_listing() -> str:
        return to_json(select(await load_results(influx, span)))

    listed = len(select(await load_summaries(influx, span)))
    list_s = await _timed(listing, options.report_repeats)
    return attribute_s, floor_s, list_s, await _timed(full_listing, options.report_repeats), listed


def run(options: Options, workdir: Path) -> list[Entry]:
    scale = Scale(options.report_meters, options.report_span_days, options.report_days,
                  options.report_batches)
    with influxdb(workdir) as server:
        plant, rate = load(server.url, server.database, scale)
        model = load_plant(write_plant_file(plant, workdir / "plant.yaml"))
        influx = InfluxHttp(server.url, server.database, timeout=600)

        async def main() -> tuple[float, float, float, float, int]:
            try:
                return await _measure(influx, server, model, plant, options)
            finally:
                await influx.close()

        attribute_s, floor_s, list_s, full_s, listed = asyncio.run(main())
    data = (f"{scale.meters} meters at 1 Hz, {scale.readings_days:g} of {scale.span_days:g} days "
            f"({scale.points:,} readings), {len(plant.windows())} batches")
    return [
        Entry("reports: attribute one batch", attribute_s * 1000, "ms", limit=floor_s * 1000,
              note=f"{data}; limit: InfluxDB serving that batch's events and counter readings "
                   "(MessagePack)"),
        Entry(f"reports: list {listed} batches (load, select, JSON)", list_s * 1000, "ms",
              note="numeric fields of batch_result only"),
        Entry(f"reports: list {listed} batches with full detail", full_s * 1000, "ms",
              note="every result's detail JSON parsed (load_results, to_json)"),
        Entry("reports: loader into InfluxDB", rate, "points/s", note="bench.plant_data, 2 writer processes"),
    ]
