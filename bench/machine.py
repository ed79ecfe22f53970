"""The machine a run measured: cores, CPU model, memory and load, read from /proc."""

from __future__ import annotations

import os
from pathlib import Path


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def describe() -> str:
    load = Path("/proc/loadavg").read_text().split()[:3]
    return (f"{os.cpu_count()} cores, {_cpu_model()}, {_memory_gib():.1f} GiB RAM; "
            f"load average at the end {' '.join(load)}")
