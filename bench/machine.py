"""The machine a run measured: cores, CPU model, memory and load, read from /proc."""

from __future__ import annotations

import asyncio
import os
import time
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


WAKE_SLEEP_S = 0.5
WAKES = 8


def wake_costs_us() -> tuple[float, float]:
    """CPU charged to a process per wake-up after WAKE_SLEEP_S idle: (event loop, plain thread).

    A 1 Hz poller spends most of each second idle, so what one wake-up costs is part of its
    every cycle. On a VM it can be far more than the work done after waking (timer set-up,
    leaving the idle state, caches gone cold); on the 2-core bench VM an asyncio loop's
    wake-up cost ~300 us, a bare thread's ~90 us.
    """

    async def loop_wakes() -> float:
        start = time.thread_time()
        for _ in range(WAKES):
            await asyncio.sleep(WAKE_SLEEP_S)
        return time.thread_time() - start

    in_loop = asyncio.run(loop_wakes())
    start = time.thread_time()
    for _ in range(WAKES):
        time.sleep(WAKE_SLEEP_S)  # the quantity measured: a thread's wake-up after sleeping
    in_thread = time.thread_time() - start
    return in_loop / WAKES * 1e6, in_thread / WAKES * 1e6
