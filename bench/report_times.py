"""Reports: time to attribute one batch, and to list 1,000 batches, over a loaded plant.

Uses the attribution part's own I/O (cloud/results.py) and report formatting
(cloud/reports.py), in process, against a real InfluxDB holding bench.plant_data's plant:
- one batch: `recompute` of exactly that batch (the batches starting at its start: it loads
  the events around it and the readings that batch needs, attributes, compares with and
  writes the stored result), first from the readings themselves (as right after the batch,
  before `cloud settle` packed them), then from settled blocks once `settle` packed the
  loaded readings (timed too); the two must give the same result. Beside each, the store's
  own floor: InfluxDB answering the very requests that recompute sent (recorded by its
  client's transport), wave after wave as they waited for each other, in MessagePack, the
  answers read but not parsed;
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
from dataclasses import dataclass
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
    load_results,
    load_summaries,
    recompute,
    result_line,
)
from cloud.settle import settle
from config.plant import PlantModel, load_plant
from tests.recording import RecordingTransport, Request
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


def waves(requests: list[Request]) -> list[list[str]]:
    """The requests in the order they depend on each other: a request sent while every request
    of the current wave was still unanswered joins it; one sent later waited for an answer."""
    out: list[list[str]] = []
    answered_by = 0.0
    for r in sorted(requests, key=lambda r: r.began):
        if out and r.began < answered_by:
            out[-1].append(r.q)
            answered_by = min(answered_by, r.answered)
        else:
            out.append([r.q])
            answered_by = r.answered
    return out


def _store_floor(client: httpx.AsyncClient, database: str, recorded: list[list[str]]
                 ) -> Callable[[], Awaitable[object]]:
    """What a recompute of one batch must have InfluxDB send at least: the very requests it
    sent, wave after wave as they waited for each other, unparsed, over a kept connection (as
    the recompute's client keeps its own)."""
    async def ask(q: str) -> bytes:
        response = await client.post("/query", params={"db": database, "epoch": "ms"}, data={"q": q})
        response.raise_for_status()
        return response.content

    async def floor() -> None:
        for wave in recorded:
            await asyncio.gather(*(ask(q) for q in wave))

    return floor


async def _recorded(model: PlantModel, server: InfluxDB, one: Window, now_ms: int, settled: bool
                    ) -> list[list[str]]:
    """The requests of one recompute by a client of its own, in waves."""
    recording = RecordingTransport()
    influx = InfluxHttp(server.url, server.database, timeout=600, transport=recording)
    try:
        await recompute(influx, model, one, now_ms, settled=settled)
    finally:
        await influx.close()
    return waves(recording.requests)


@dataclass
class Times:
    readings_s: float = 0.0
    readings_floor_s: float = 0.0
    settle_s: float = 0.0
    settled_readings: int = 0
    blocks_s: float = 0.0
    blocks_floor_s: float = 0.0
    list_s: float = 0.0
    full_list_s: float = 0.0
    listed: int = 0


async def _one_batch(influx: InfluxHttp, server: InfluxDB, model: PlantModel, plant: Plant,
                     options: Options, times: Times) -> BatchResult:
    batch_id, _line, start, _end = covered_batch(plant, options.report_margin_s)
    one = Window(start * 1000, start * 1000)
    now_ms = int(time.time() * 1000)
    outcome = await recompute(influx, model, one, now_ms, settled=False)
    template = next(r for r in outcome.current() if r.batch_id == batch_id)
    repeats = options.report_repeats
    times.readings_s = await _timed(lambda: recompute(influx, model, one, now_ms, settled=False), repeats)
    store = httpx.AsyncClient(base_url=server.url, timeout=600,
                              headers={"Accept-Encoding": "identity", "Accept": "application/x-msgpack"})
    readings_asked = await _recorded(model, server, one, now_ms, settled=False)
    times.readings_floor_s = await _timed(_store_floor(store, server.database, readings_asked), repeats)
    began = time.perf_counter()
    done = await settle(influx, model, plant.readings_start_s * 1000, plant.end_s * 1000, now_ms)
    times.settle_s, times.settled_readings = time.perf_counter() - began, done.readings
    from_blocks = await recompute(influx, model, one, now_ms)
    if from_blocks.written:
        raise RuntimeError(f"settled blocks changed batch {batch_id}'s result: {from_blocks.written}")
    times.blocks_s = await _timed(lambda: recompute(influx, model, one, now_ms), repeats)
    blocks_asked = await _recorded(model, server, one, now_ms, settled=True)
    times.blocks_floor_s = await _timed(_store_floor(store, server.database, blocks_asked), repeats)
    await store.aclose()
    return template


async def _measure(
    influx: InfluxHttp, server: InfluxDB, model: PlantModel, plant: Plant, options: Options
) -> Times:
    times = Times()
    template = await _one_batch(influx, server, model, plant, options, times)
    lines = _restamped(template, plant)
    for first in range(0, len(lines), 500):
        await influx.write_lines(lines[first : first + 500], precision="ms")
    span = Window(plant.start_s * 1000, plant.end_s * 1000)

    async def listing() -> str:
        return summaries_to_json(select(await load_summaries(influx, span)))

    async def full_listing() -> str:
        return to_json(select(await load_results(influx, span)))

    times.listed = len(select(await load_summaries(influx, span)))
    times.list_s = await _timed(listing, options.report_repeats)
    times.full_list_s = await _timed(full_listing, options.report_repeats)
    return times


def run(options: Options, workdir: Path) -> list[Entry]:
    scale = Scale(options.report_meters, options.report_span_days, options.report_days,
                  options.report_batches)
    with influxdb(workdir) as server:
        plant, rate = load(server.url, server.database, scale)
        model = load_plant(write_plant_file(plant, workdir / "plant.yaml"))
        influx = InfluxHttp(server.url, server.database, timeout=600)

        async def main() -> Times:
            try:
                return await _measure(influx, server, model, plant, options)
            finally:
                await influx.close()

        t = asyncio.run(main())
    data = (f"{scale.meters} meters at 1 Hz, {scale.readings_days:g} of {scale.span_days:g} days "
            f"({scale.points:,} readings), {len(plant.windows())} batches")
    return [
        Entry("reports: attribute one batch (settled)", t.blocks_s * 1000, "ms",
              limit=t.blocks_floor_s * 1000,
              note=f"{data}; from settled blocks; limit: InfluxDB serving that batch's events, blocks and "
                   f"stale marks (MessagePack); from its raw readings InfluxDB alone takes "
                   f"{t.readings_floor_s * 1000:.0f} ms"),
        Entry("reports: attribute one batch (not yet settled)", t.readings_s * 1000, "ms",
              limit=t.readings_floor_s * 1000,
              note="from the readings themselves; limit: InfluxDB serving that batch's events and counter "
                   "readings (MessagePack)"),
        Entry("reports: settle (pack readings into blocks)", t.settled_readings / t.settle_s, "readings/s",
              note=f"cloud.settle over the loaded readings: {t.settled_readings:,} in {t.settle_s:.1f} s"),
        Entry(f"reports: list {t.listed} batches (load, select, JSON)", t.list_s * 1000, "ms",
              note="numeric fields of batch_result only"),
        Entry(f"reports: list {t.listed} batches with full detail", t.full_list_s * 1000, "ms",
              note="every result's detail JSON parsed (load_results, to_json)"),
        Entry("reports: loader into InfluxDB", rate, "points/s", note="bench.plant_data, 2 writer processes"),
    ]
