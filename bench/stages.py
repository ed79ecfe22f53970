"""Every benchmark stage, in the order `python -m bench` runs them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench import capacity, drain, ingest, latency, poll_cost, report_times
from bench.options import Options
from bench.results import Entry

ALL: dict[str, Callable[[Options, Path], list[Entry]]] = {
    "agent": poll_cost.run,
    "capacity": capacity.run,
    "collector": ingest.run,
    "latency": latency.run,
    "drain": drain.run,
    "reports": report_times.run,
}
