"""The most devices one gateway process polls at 1 Hz while keeping every period.

Steps the device count up (Options.capacity_steps); at each step the agent runs a fresh
outbox for a warm-up and a window, and a stand-in collector checks that every device has a
good reading in every period. The first step that misses any period ends the climb.
Every device is a TCP port of its own (two descriptors in the load generator), so steps
beyond what the open-files limit allows are left out and said so.
"""

from __future__ import annotations

import contextlib
import resource
import time
from pathlib import Path

from bench.acker import Acker
from bench.edge import agent
from bench.gateway_config import device_names
from bench.modbus_fixture import devices
from bench.options import Options
from bench.procstat import machine_busy_s, measure
from bench.results import Entry
from bench.services import broker
from tests.servers import wait_until


def _step(
    ports: list[int], options: Options, workdir: Path, host: str, port: int
) -> tuple[int, int, float, float]:
    """(missed periods, failed reads, the agent's share of one core, the machine's busy share)."""
    acker = Acker(host, port)
    try:
        with agent(f"cap{len(ports)}", ports, port, workdir) as (process, config):
            names = device_names(config)
            wait_until(lambda: len(acker.readings) == len(names), 60, f"first cycle of {len(names)} devices")
            time.sleep(options.warmup_s)  # let connection set-up settle before judging periods
            since = int(time.time() * 1000)
            busy_before, total_before = machine_busy_s()
            window = measure(process.pid, options.capacity_window_s)
            busy_after, total_after = machine_busy_s()
            until = int(time.time() * 1000) - 2000
            busy = (busy_after - busy_before) / (total_after - total_before)
            # a period is kept when its poll happened, whenever its message arrives: the
            # stand-in collector (one Python thread) may trail a few-thousand-device cycle
            with contextlib.suppress(TimeoutError):  # what has not arrived by then counts as missed
                wait_until(lambda: acker.caught_up(until, 1000, names), CATCH_UP_S, "the acker caught up")
            missed = acker.missed_periods(since, until, 1000, names)
            return missed, acker.errors, window.cpu_s / window.seconds, busy
    finally:
        acker.close()


def _marginal_us(kept: list[tuple[int, float]]) -> float | None:
    """CPU per extra device poll between the smallest and largest step kept (fixed costs cancel)."""
    if len(kept) < 2:
        return None
    (low, low_cpu), (high, high_cpu) = kept[0], kept[-1]
    return (high_cpu - low_cpu) / (high - low) * 1e6


CATCH_UP_S = 15.0
"""How long the window's last readings may take to reach the stand-in collector."""
FDS_PER_DEVICE = 2
"""The load generator's listening socket and accepted connection for each device."""
FDS_SPARE = 200


def _servable(steps: tuple[int, ...]) -> tuple[list[int], str]:
    """The steps the open-files limit allows, after raising it to its hard limit if need be."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(steps) * FDS_PER_DEVICE + FDS_SPARE
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))  # inherited by the children
    room = (soft - FDS_SPARE) // FDS_PER_DEVICE if soft != resource.RLIM_INFINITY else max(steps)
    allowed = [count for count in steps if count <= room] or list(steps[:1])
    if len(allowed) == len(steps):
        return allowed, ""
    return allowed, f"; steps over {room} devices left out (open-files limit {soft})"


def run(options: Options, workdir: Path) -> list[Entry]:
    kept: list[tuple[int, float]] = []
    failed_at = 0
    steps, cut = _servable(options.capacity_steps)
    with devices(max(steps), workdir) as all_ports, broker(workdir) as mqtt:
        for count in steps:
            missed, failed, cpu, busy = _step(all_ports[:count], options, workdir, mqtt.host, mqtt.port)
            print(f"   capacity: {count} devices, {missed} missed periods, {failed} failed reads "
                  f"(start-up included), agent {cpu:.0%} of a core, machine {busy:.0%} busy", flush=True)
            if missed:
                failed_at = count
                break
            kept.append((count, cpu))
    best, best_cpu = kept[-1] if kept else (0, 0.0)
    tried = ("all steps kept every period" if not failed_at else f"{failed_at} devices missed periods") + cut
    entries = [
        Entry("agent: devices at 1 Hz, every period kept", best, "devices", note=tried),
        Entry("agent: CPU at that load", best_cpu * 100, "% of a core"),
    ]
    marginal = _marginal_us(kept)
    if marginal is not None:
        entries.append(Entry("agent: marginal CPU per device poll", marginal, "us",
                             note=f"slope {kept[0][0]} -> {kept[-1][0]} devices; fixed costs cancel"))
    return entries
