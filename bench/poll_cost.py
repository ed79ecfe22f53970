"""Agent cost per device poll and per value at 50 devices, 1 Hz, beside a bare pymodbus floor.

Both run as their own processes against the same devices (bench.modbus_server) and are
measured the same way: CPU from /proc over a fixed window after a warm-up, peak RSS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from agent.plan import plan_profile
from bench import machine
from bench.acker import Acker
from bench.edge import agent
from bench.gateway_config import device_names
from bench.modbus_fixture import devices
from bench.options import Options
from bench.proc import child, python_argv
from bench.procstat import Window, measure
from bench.results import Entry
from bench.services import broker
from config.profile import load_profile
from tests.servers import wait_until


@dataclass(frozen=True)
class Settings:
    devices: int = 50
    interval: float = 1.0
    warmup: float = 5.0
    window: float = 30.0


@dataclass(frozen=True)
class Cost:
    us_per_poll: float
    us_per_value: float
    rss_mb: float
    late: int


def values_per_poll(profile: str = "sdm630") -> int:
    return sum(len(block.slots) for block in plan_profile(load_profile(profile)))


def cost_of(window: Window, settings: Settings, profile: str = "sdm630", late: int = 0) -> Cost:
    polls = settings.devices * window.seconds / settings.interval
    per_poll = window.cpu_s / polls * 1e6
    return Cost(per_poll, per_poll / values_per_poll(profile), window.max_rss_bytes / 2**20, late)


def floor(ports: list[int], settings: Settings, workdir: Path) -> Cost:
    argv = python_argv(
        "bench.modbus_floor", "--ports", ",".join(map(str, ports)), "--interval", str(settings.interval)
    )
    with child(argv, workdir / "floor.log", ready="READY") as poller:
        measure(poller.pid, settings.warmup)
        window = measure(poller.pid, settings.window)
        lines = poller.finish()
    late = next((int(line.split()[3]) for line in lines if line.startswith("POLLS")), -1)
    return cost_of(window, settings, late=late)


def edge_agent(ports: list[int], settings: Settings, workdir: Path) -> Cost:
    """The agent with outbox and MQTT, acked by a stand-in collector so its outbox stays small."""
    with broker(workdir) as mqtt:
        acker = Acker(mqtt.host, mqtt.port)
        try:
            with agent("g0", ports, mqtt.port, workdir) as (process, config):
                names = device_names(config)
                wait_until(lambda: len(acker.readings) == len(names), 60, "the agent's first cycle acked")
                measure(process.pid, settings.warmup)
                since = _now_ms()
                window = measure(process.pid, settings.window)
                until = _now_ms() - 2000  # the last cycles may still be on their way
                missed = acker.missed_periods(since, until, int(settings.interval * 1000), names)
        finally:
            acker.close()
    return cost_of(window, settings, late=missed)


def _now_ms() -> int:
    return int(time.time() * 1000)


def run(options: Options, workdir: Path) -> list[Entry]:
    settings = Settings(warmup=options.warmup_s, window=options.window_s)
    loop_wake_us, thread_wake_us = machine.wake_costs_us()
    with devices(settings.devices, workdir) as ports:
        bare = floor(ports, settings, workdir)
        edge = edge_agent(ports, settings, workdir)
    n = settings.devices
    reads = len(plan_profile(load_profile("sdm630")))
    note = f"{n} SDM630-like devices, 1 Hz, {values_per_poll()} values in {reads} read(s)"
    return [
        Entry("agent: CPU per device poll", edge.us_per_poll, "us", bare.us_per_poll,
              note=f"limit: bare pymodbus floor; {note}"),
        Entry("agent: CPU per value", edge.us_per_value, "us", bare.us_per_value, note="limit: floor"),
        Entry("agent: RSS", edge.rss_mb, "MB", bare.rss_mb, note="limit: floor's RSS"),
        Entry("agent: missed periods in window", edge.late, "periods", note=f"of {n} x window"),
        Entry("floor: cycles overrunning 1 s", bare.late, "cycles"),
        Entry("machine: CPU per wake-up of an idle event loop", loop_wake_us, "us",
              note=f"asyncio.sleep({machine.WAKE_SLEEP_S:g}) x {machine.WAKES}; paid per wake-up"),
        Entry("machine: CPU per wake-up of a sleeping thread", thread_wake_us, "us",
              note=f"time.sleep({machine.WAKE_SLEEP_S:g}) x {machine.WAKES}"),
    ]
