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
    capacity_steps: tuple[int, ...] = (200, 1000, 3000, 5000, 6500, 7500, 8500)
    """Device counts tried for one gateway's 1 Hz capacity, in order, until one misses periods
    (on the 2-core bench VM the agent kept 7,500 and missed at 8,000-9,000, one core busy)."""
    capacity_window_s: float = 10.0
    ingest_readings: int = 300_000
    """Readings pushed through the collector (and through each ceiling)."""
    drain_hours: float = 1.0
    """Backlog of one 50-device gateway written into its outbox before it may publish."""
    report_span_days: float = 1.0
    """Days the batches (and their events and results) span: 1,000 batches over 1 day on 20
    lines run 22 min each. `--report-span-days 30` gives the issue's month (10.8 h batches),
    whose one-batch attribution alone runs for many minutes with today's engine."""
    report_days: float = 0.15
    """Days of 1 Hz readings, the last of the span: whole batches with attribution's 1 h
    margins. 30 (with a 30-day span) loads the issue's whole month: ~1.5 h, since InfluxDB 1.6
    takes 1 Hz points at ~80-100k/s on 2 cores."""
    report_margin_s: int = 3600
    report_meters: int = 200
    report_batches: int = 1000
    report_repeats: int = 5


FULL = Options()
QUICK = replace(
    FULL,
    quick=True,
    warmup_s=1.0,
    window_s=5.0,
    capacity_steps=(200,),
    capacity_window_s=6.0,
    ingest_readings=60_000,
    drain_hours=0.1,
    report_meters=50,
    report_span_days=0.25,
    report_days=0.01,
    report_margin_s=0,
    report_repeats=2,
)
