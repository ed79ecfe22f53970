"""Scrap weighings attributed to batches, and diversion rates (UL 2799 and TRUE style)."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from cloud.attribution.batches import BatchWindow
from config.plant import TRUE_DIVERTED, UL2799_DIVERTED, Route, Scrap


@dataclass(frozen=True)
class Weighing:
    ts_ms: int
    device: str
    weighing_seq: int
    mass_kg: float
    category: str
    destination: str
    line: str | None = None
    batch_id: str | None = None


@dataclass
class ScrapTotals:
    by_category: dict[str, float] = field(default_factory=dict)
    by_destination: dict[str, float] = field(default_factory=dict)
    total: float = 0.0
    diverted_ul: float = 0.0
    diverted_true: float = 0.0
    energy_recovery: float = 0.0
    alarms: list[str] = field(default_factory=list)

    def add(self, w: Weighing, route: Route | None) -> None:
        self.by_category[w.category] = self.by_category.get(w.category, 0.0) + w.mass_kg
        self.by_destination[w.destination] = self.by_destination.get(w.destination, 0.0) + w.mass_kg
        self.total += w.mass_kg
        if route is None:
            self.alarms.append(f"weighing {w.device}#{w.weighing_seq}: unknown destination "
                               f"{w.destination!r}, counted as not diverted")
            return
        self.diverted_ul += w.mass_kg if route in UL2799_DIVERTED else 0.0
        self.diverted_true += w.mass_kg if route in TRUE_DIVERTED else 0.0
        self.energy_recovery += w.mass_kg if route is Route.ENERGY_RECOVERY else 0.0

    def rates(self) -> tuple[float | None, float | None]:
        if self.total <= 0:
            return None, None
        return self.diverted_ul / self.total, self.diverted_true / self.total


class Owners:
    """Which batch owns a weighing: the batches indexed once, not once per weighing."""

    def __init__(self, batches: list[BatchWindow], grace_ms: int) -> None:
        self.known = {b.batch_id for b in batches}
        self.grace_ms = grace_ms
        self.on_line: dict[str, list[BatchWindow]] = {}
        for b in sorted(batches, key=lambda b: b.start_ms):
            self.on_line.setdefault(b.line, []).append(b)
        self.starts = {line: [b.start_ms for b in bs] for line, bs in self.on_line.items()}

    def owner(self, w: Weighing) -> str | None:
        """The ticket's batch if it names a known one; else the line's batch running at the
        weighing, else the line's last batch if it ended at most `grace_ms` before; else nobody."""
        if w.batch_id and w.batch_id in self.known:
            return w.batch_id
        if w.line is None:
            return None
        on_line = self.on_line.get(w.line, [])
        i = bisect_right(self.starts.get(w.line, []), w.ts_ms) - 1
        if i < 0:
            return None
        candidate = on_line[i]
        return candidate.batch_id if w.ts_ms <= candidate.end_ms + self.grace_ms else None


def unique(weighings: list[Weighing]) -> list[Weighing]:
    """One weighing per (scale, weighing_seq): replays and duplicates count once."""
    seen: dict[tuple[str, int], Weighing] = {}
    for w in sorted(weighings, key=lambda w: (w.device, w.weighing_seq, w.ts_ms)):
        seen.setdefault((w.device, w.weighing_seq), w)
    return list(seen.values())


def attribute_scrap(
    weighings: list[Weighing], batches: list[BatchWindow], scrap: Scrap
) -> tuple[dict[str, ScrapTotals], ScrapTotals]:
    """Totals per batch id, and the weighings no batch owns."""
    owners = Owners(batches, scrap.grace_s * 1000)
    per_batch: dict[str, ScrapTotals] = {}
    orphans = ScrapTotals()
    for w in unique(weighings):
        batch_id = owners.owner(w)
        totals = orphans if batch_id is None else per_batch.setdefault(batch_id, ScrapTotals())
        totals.add(w, scrap.route(w.destination))
        if scrap.categories and w.category not in scrap.categories:
            totals.alarms.append(f"weighing {w.device}#{w.weighing_seq}: unknown category {w.category!r}")
    return per_batch, orphans
