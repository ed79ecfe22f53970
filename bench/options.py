"""How long and how big each benchmark runs: the full run, or the ~1-minute `--quick` smoke run."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Options:
    quick: bool = False
    warmup_s: float = 5.0
    """Before any CPU window: connections made, caches warm, the first cycles out of the way."""
    window_s: float = 30.0
    """CPU and latency windows."""
    capacity_steps: tuple[int, ...] = (200, 400, 600, 800, 1000, 1200)
    """Device counts tried for one gateway's 1 Hz capacity, in order, until one misses periods."""
    capacity_window_s: float = 10.0
    ingest_readings: int = 300_000
    """Readings pushed through the collector (and through each ceiling)."""
    drain_hours: float = 1.0
    """Backlog of one 50-device gateway written into its outbox before it may publish."""
    report_days: float = 30.0
    report_meters: int = 200
    report_batches: int = 1000
    report_repeats: int = 5


FULL = Options()
QUICK = replace(
    FULL,
    quick=True,
    warmup_s=2.0,
    window_s=8.0,
    capacity_steps=(50, 200),
    capacity_window_s=6.0,
    ingest_readings=40_000,
    drain_hours=0.1,
    report_days=0.02,
    report_repeats=2,
)
