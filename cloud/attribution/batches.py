"""Batch windows from batch_started / batch_ended events, and the snapshots they carry."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BatchEvent:
    kind: str  # batch_started | batch_ended
    ts_ms: int
    line: str
    batch_id: str
    product: str = ""
    good_units: float | None = None
    reject_units: float | None = None
    counters: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchWindow:
    batch_id: str
    line: str
    product: str
    start_ms: int
    end_ms: int
    good_units: float | None = None
    reject_units: float | None = None
    alarms: tuple[str, ...] = ()

    def overlaps(self, start_ms: int, end_ms: int) -> bool:
        return self.start_ms < end_ms and start_ms < self.end_ms

    def running_through(self, start_ms: int, end_ms: int) -> bool:
        return self.start_ms <= start_ms and end_ms <= self.end_ms


def _key(e: BatchEvent) -> tuple[str, str]:
    return (e.line, e.batch_id)


def pair_batches(events: list[BatchEvent]) -> list[BatchWindow]:
    """Complete batches (a start and an end), sorted by start; open batches are left for later.

    Duplicates collapse (replays); if several starts or ends exist, the first start and the
    last end win and the batch carries an alarm saying so.
    """
    starts: dict[tuple[str, str], list[BatchEvent]] = {}
    ends: dict[tuple[str, str], list[BatchEvent]] = {}
    for e in events:
        (starts if e.kind == "batch_started" else ends).setdefault(_key(e), []).append(e)
    windows = []
    for key, started in starts.items():
        if key not in ends:
            continue
        first = min(started, key=lambda e: e.ts_ms)
        last = max(ends[key], key=lambda e: e.ts_ms)
        alarms = []
        if len({e.ts_ms for e in started}) > 1 or len({e.ts_ms for e in ends[key]}) > 1:
            alarms.append("batch started or ended more than once; first start and last end used")
        if last.ts_ms <= first.ts_ms:
            continue
        windows.append(BatchWindow(
            key[1], key[0], first.product or last.product, first.ts_ms, last.ts_ms,
            last.good_units, last.reject_units, tuple(alarms),
        ))
    return sorted(windows, key=lambda w: (w.start_ms, w.line, w.batch_id))


def snapshots(events: list[BatchEvent], quantity_of: dict[str, str]) -> dict[str, list[tuple[int, float]]]:
    """Boundary counter values (meter -> [(ts, value)]) from the batch events' counter snapshots."""
    out: dict[str, list[tuple[int, float]]] = {}
    for e in events:
        for meter, values in e.counters.items():
            quantity = quantity_of.get(meter)
            if quantity is not None and quantity in values:
                out.setdefault(meter, []).append((e.ts_ms, values[quantity]))
    return out
