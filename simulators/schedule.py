"""The production timeline: when each batch sets up, runs and ends, its units and its scrap tickets.

Pure: built once from the plant file; every question takes the simulated time in seconds.
Transitions fall on whole seconds, so a line's state is constant within each second.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from config.simplant import Batch, Product, SimPlant

SCRAP_RESOLUTION_KG = 0.01
"""Tickets carry mass in 10 g steps (the weigh-station register); truth uses the same steps."""


@dataclass(frozen=True)
class BatchRun:
    batch_id: str
    line: str
    product: str
    planned_units: int
    start_s: int
    """The batch id appears and setup begins."""
    run_s: int
    """Setup ends and the line runs."""
    end_s: int
    """The line returns to idle."""
    yield_: float
    stops: tuple[tuple[int, int], ...] = ()
    """Line stops in fault, as absolute [start, end) simulated seconds."""

    def state(self, t: float) -> str:
        if t < self.run_s:
            return "setup"
        return "fault" if any(a <= t < b for a, b in self.stops) else "running"

    def _running_s(self, t: float) -> float:
        stopped = sum(max(0.0, min(t, b) - a) for a, b in self.stops if a < t)
        return t - self.run_s - stopped

    def made_units(self, t: float) -> int:
        if t < self.run_s:
            return 0
        if t >= self.end_s:
            return self.planned_units
        run_time = self._running_s(self.end_s)
        return math.floor(self.planned_units * self._running_s(t) / run_time)

    def reject_units(self, t: float) -> int:
        return math.floor(self.made_units(t) * (1.0 - self.yield_) + 1e-9)

    def good_units(self, t: float) -> int:
        return self.made_units(t) - self.reject_units(t)


@dataclass(frozen=True)
class Ticket:
    """One weighing of scrap: what the weigh station shows after its seq increments."""

    at_s: int
    station: str
    seq: int
    mass_kg: float
    category: str
    destination: str
    line: str
    batch_id: str


def _runs_of_line(
    line: str, start: int, batches: list[Batch], products: dict[str, Product]
) -> list[BatchRun]:
    runs, t = [], start
    for b in batches:
        begin = t + b.idle_before_s
        run_at = begin + b.setup_s
        stops, lost = [], 0
        for stop in sorted(b.stops, key=lambda s: s.after_s):
            at = run_at + stop.after_s + lost
            stops.append((at, at + stop.duration_s))
            lost += stop.duration_s
        end = run_at + b.run_s + lost
        runs.append(BatchRun(b.batch_id, line, b.product, b.planned_units, begin, run_at, end,
                             products[b.product].yield_, tuple(stops)))
        t = end
    return runs


def _scrap_portions(run: BatchRun, product: Product) -> list[tuple[str, str, float]]:
    """(category, destination, kg) for one batch: the material that did not become good output."""
    total = run.planned_units * product.unit_mass_kg * (1.0 - product.yield_)
    portions = []
    for category, share in product.scrap.items():
        steps = round(total * share.share / SCRAP_RESOLUTION_KG)
        if steps > 0:
            portions.append((category, share.destination, round(steps * SCRAP_RESOLUTION_KG, 2)))
    return portions


class Schedule:
    def __init__(self, plant: SimPlant) -> None:
        starts = {ln.id: ln.start_s for ln in plant.lines}
        self.runs: dict[str, list[BatchRun]] = {
            ln: _runs_of_line(ln, starts[ln], batches, plant.products)
            for ln, batches in plant.schedule.items()
        }
        for ln in starts:
            self.runs.setdefault(ln, [])
        self._starts = {ln: [r.start_s for r in runs] for ln, runs in self.runs.items()}
        self.end_s = max((r.end_s for runs in self.runs.values() for r in runs), default=0)
        self.tickets = self._book_tickets(plant)
        self._ticket_times = {
            st: [tk.at_s for tk in tks] for st, tks in self.tickets.items()
        }

    def all_runs(self) -> list[BatchRun]:
        return sorted((r for runs in self.runs.values() for r in runs), key=lambda r: (r.start_s, r.line))

    def run_at(self, line: str, t: float) -> BatchRun | None:
        """The batch on `line` at time t, if any (a batch owns [start_s, end_s))."""
        runs = self.runs[line]
        i = bisect.bisect_right(self._starts[line], t) - 1
        if i >= 0 and t < runs[i].end_s:
            return runs[i]
        return None

    def last_run_before(self, line: str, t: float) -> BatchRun | None:
        runs = self.runs[line]
        i = bisect.bisect_right(self._starts[line], t) - 1
        return runs[i] if i >= 0 else None

    def line_state(self, line: str, t: float) -> str:
        run = self.run_at(line, t)
        return run.state(t) if run else "idle"

    def ticket_at(self, station: str, t: float) -> Ticket | None:
        """The last ticket the station has completed at time t."""
        i = bisect.bisect_right(self._ticket_times.get(station, []), t) - 1
        return self.tickets[station][i] if i >= 0 else None

    def _book_tickets(self, plant: SimPlant) -> dict[str, list[Ticket]]:
        stations = [d for d in plant.devices if d.role == "weigh_station"]
        booked: dict[str, list[Ticket]] = {}
        for station in stations:
            served = set(station.lines) or set(self.runs)
            wanted = []
            for run in self.all_runs():
                if run.line not in served:
                    continue
                portions = _scrap_portions(run, plant.products[run.product])
                for i, (category, destination, kg) in enumerate(portions):
                    at = run.run_s + (i + 1) * (run.end_s - run.run_s) // (len(portions) + 1)
                    wanted.append((at, category, destination, kg, run))
            booked[station.id] = self._serialise(station.id, sorted(wanted, key=lambda w: w[0]),
                                                 plant.min_ticket_interval_s)
        return booked

    @staticmethod
    def _serialise(station: str, wanted: list[tuple[int, str, str, float, BatchRun]],
                   spacing: int) -> list[Ticket]:
        """One weighing at a time, at least `spacing` seconds apart, in order of request."""
        tickets: list[Ticket] = []
        free_at = 0
        for at, category, destination, kg, run in wanted:
            when = max(at, free_at)
            tickets.append(Ticket(when, station, len(tickets) + 1, kg, category, destination,
                                  run.line, run.batch_id))
            free_at = when + spacing
        return tickets
