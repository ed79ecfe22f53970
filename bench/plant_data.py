"""The reports benchmark's data: a plant with 1 Hz counters and batches, loaded into InfluxDB.

Shape: `lines` lines, each with its own meters, a fifth of the meters shared; `batches`
batches spread evenly over the lines and `span_days`, each with batch_started/ended events
(counter snapshots) and one scrap weighing; every meter reads once a second over the last
`readings_days` of the span (all of it when the two are equal: the issue's 30 days). The
batch geometry depends on the span only, so a shorter readings stretch still holds whole
batches of the full-size plant, just fewer of them.
Only the counter field that attribution reads is stored per reading (InfluxDB keeps each
field in its own column, so the other eleven an SDM630 sends would not change the queries,
only the loading time). Events go through the collector's own mapping (cloud.points).
Readings are generated straight into line protocol by several processes at once.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from cloud.points import event_lines
from config.wire import BatchEnded, BatchStarted, Event, EventsMessage, ScrapWeighed

SITE = "bench"
QUANTITY = "energy_import_kwh"
CHUNK_S = 10_000
"""Seconds of one meter per write: one series per request keeps InfluxDB's cache cheap."""
WORKERS = 2


@dataclass(frozen=True)
class Scale:
    meters: int = 200
    span_days: float = 30.0
    readings_days: float = 30.0
    batches: int = 1000
    lines: int = 20

    @property
    def seconds(self) -> int:
        return int(self.span_days * 86_400)

    @property
    def reading_seconds(self) -> int:
        return int(min(self.readings_days, self.span_days) * 86_400)

    @property
    def points(self) -> int:
        return self.meters * self.reading_seconds


@dataclass(frozen=True)
class Plant:
    scale: Scale
    start_s: int

    @property
    def end_s(self) -> int:
        return self.start_s + self.scale.seconds

    @property
    def readings_start_s(self) -> int:
        return self.end_s - self.scale.reading_seconds

    def meter_ids(self) -> list[str]:
        return [f"m{index:04d}" for index in range(self.scale.meters)]

    def shared_count(self) -> int:
        return self.scale.meters // 5

    def line_of(self, index: int) -> str | None:
        """Shared meters are the last fifth; the others go round-robin over the lines."""
        if index >= self.scale.meters - self.shared_count():
            return None
        return f"L{index % self.scale.lines:02d}"

    def line_ids(self) -> list[str]:
        return [f"L{index:02d}" for index in range(self.scale.lines)]

    def gateway_of(self, index: int) -> str:
        return f"g{index // 50}"

    def counter(self, index: int, t_s: float) -> float:
        return 1000.0 + index + self.power_kw(index) * (t_s - self.start_s) / 3600

    @staticmethod
    def power_kw(index: int) -> float:
        return 5.0 + index % 17

    def windows(self) -> list[tuple[str, str, int, int]]:
        """(batch id, line, start s, end s) for every batch, evenly spaced on each line."""
        per_line = max(1, self.scale.batches // self.scale.lines)
        slot = self.scale.seconds / per_line
        out = []
        for number, line in enumerate(self.line_ids()):
            phase = 0.2 * slot * number / self.scale.lines  # lines start batches at different times
            for k in range(per_line):
                start = int(self.start_s + k * slot + phase)
                out.append((f"{line}-{k:04d}", line, start, start + int(slot * 0.75)))
        return out


def _body(plant: Plant, index: int, first_s: int, count: int) -> bytes:
    prefix = (f"reading,device=m{index:04d},gateway={plant.gateway_of(index)},site={SITE} "
              f"{QUANTITY}=")
    c0 = plant.counter(index, first_s)
    step = plant.power_kw(index) / 3600
    return "\n".join([f"{prefix}{c0 + k * step:.4f} {first_s + k}" for k in range(count)]).encode()


def _load_meters(url: str, database: str, plant: Plant, indices: list[int]) -> int:
    written = 0
    with httpx.Client(base_url=url, timeout=120) as client:
        for index in indices:
            for first in range(plant.readings_start_s, plant.end_s, CHUNK_S):
                count = min(CHUNK_S, plant.end_s - first)
                response = client.post("/write", params={"db": database, "precision": "s"},
                                       content=_body(plant, index, first, count))
                if response.status_code != 204:
                    raise RuntimeError(f"load refused: {response.status_code} {response.text[:200]}")
                written += count
    return written


def _events(plant: Plant) -> list[str]:
    lines: list[str] = []
    meters_of: dict[str, list[int]] = {}
    for index in range(plant.scale.meters):
        line = plant.line_of(index)
        if line is not None:
            meters_of.setdefault(line, []).append(index)
    def snap(line: str, t_s: int) -> dict[str, dict[str, float]]:
        return {f"m{i:04d}": {QUANTITY: round(plant.counter(i, t_s), 4)} for i in meters_of[line]}

    for seq, (batch_id, line, start, end) in enumerate(plant.windows(), start=1):
        events: list[Event] = [
            BatchStarted(ts_ms=start * 1000, device=f"lc{line}", line=line, batch_id=batch_id,
                         product="cell-a", counters=snap(line, start)),
            BatchEnded(ts_ms=end * 1000, device=f"lc{line}", line=line, batch_id=batch_id, product="cell-a",
                       good_units=1000.0, reject_units=20.0, counters=snap(line, end)),
            ScrapWeighed(ts_ms=(end + 60) * 1000, device=f"ws{line}", line=line, weighing_seq=seq,
                         mass_kg=12.5, category="electrode", destination="recycling", batch_id=batch_id),
        ]
        lines += event_lines(EventsMessage(site=SITE, gateway="g0", seq=seq, events=events))
    return lines


def load(url: str, database: str, scale: Scale) -> tuple[Plant, float]:
    """Generate and write the plant's data; return it and the load rate in points/s."""
    plant = Plant(scale, (int(time.time()) - scale.seconds - 86_400) // 3600 * 3600)
    began = time.perf_counter()
    shares = [list(range(w, scale.meters, WORKERS)) for w in range(WORKERS)]
    with ProcessPoolExecutor(WORKERS) as pool:
        written = sum(pool.map(_load_meters, [url] * WORKERS, [database] * WORKERS, [plant] * WORKERS,
                               shares))
    events = _events(plant)
    for first in range(0, len(events), 5000):
        response = httpx.post(f"{url}/write", params={"db": database, "precision": "ns"},
                              content="\n".join(events[first : first + 5000]).encode(), timeout=120)
        response.raise_for_status()
    return plant, written / (time.perf_counter() - began)


def covered_batch(plant: Plant, margin_s: int) -> tuple[str, str, int, int]:
    """The last batch whose window, widened by `margin_s`, lies inside the readings."""
    inside = [w for w in plant.windows()
              if w[2] - margin_s >= plant.readings_start_s and w[3] + margin_s <= plant.end_s]
    if not inside:
        raise ValueError(
            f"no whole batch (+/- {margin_s} s) inside {plant.scale.readings_days} days of readings; "
            "give the reports stage more days"
        )
    return max(inside, key=lambda w: w[2])


def plant_model(plant: Plant) -> dict[str, Any]:
    """The attribution plant file (config/plant.py) for this data."""
    meters: list[dict[str, Any]] = []
    for index, meter in enumerate(plant.meter_ids()):
        line = plant.line_of(index)
        entry: dict[str, Any] = {"id": meter, "poll_interval_s": 1.0}
        entry.update({"line": line} if line else {"shared": True, "allocation": "runtime"})
        meters.append(entry)
    return {
        "site": SITE,
        "lines": [{"id": line} for line in plant.line_ids()],
        "meters": meters,
        "products": {"cell-a": {"name": "cell A", "cell_kwh": 0.05}},
        "factor_sets": [
            {"name": "grid", "version": "bench", "basis": "location", "default": {"g_per_kwh": 300.0}},
            {"name": "contracts", "version": "bench", "basis": "market", "default": {"g_per_kwh": 100.0}},
        ],
        "scrap": {"categories": ["electrode"], "destinations": {"recycling": "recycling"}},
    }


def write_plant_file(plant: Plant, path: Path) -> Path:
    path.write_text(yaml.safe_dump(plant_model(plant), sort_keys=False))
    return path
