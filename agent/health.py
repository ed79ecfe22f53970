"""Health: what the agent knows about itself, as a status dict and as Prometheus text.

Per device: polls, successes, errors by reason, skipped (quarantined) and missed (bus
overran) polls, last latency. Gateway: outbox depth, oldest age and drops, MQTT state
and counters, cycles, and the clock (how far wall time has stepped against monotonic
time since start: NTP corrections and manual sets show up here).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.poller import DeviceStats

Metrics = dict[str, float]
Labelled = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Clock:
    """Tracks wall-clock steps: the difference between wall and monotonic time should not move."""

    origin: float = field(default_factory=lambda: time.time() - time.monotonic())

    def step_s(self) -> float:
        return (time.time() - time.monotonic()) - self.origin


def device_metrics(stats: dict[str, DeviceStats]) -> Labelled:
    out: Labelled = {}
    for device, s in stats.items():
        label = (("device", device),)
        out[("batchmeter_device_polls_total", label)] = s.polls
        out[("batchmeter_device_polls_ok_total", label)] = s.ok
        out[("batchmeter_device_poll_errors_total", label)] = s.errors
        out[("batchmeter_device_polls_skipped_total", label)] = s.skipped
        out[("batchmeter_device_polls_missed_total", label)] = s.missed
        out[("batchmeter_device_latency_seconds", label)] = s.last_latency_s
        out[("batchmeter_device_unreadable_registers", label)] = len(s.unreadable)
        for reason, count in s.exceptions.items():
            out[("batchmeter_device_failures_total", (*label, ("reason", reason)))] = count
    return out


def prometheus_text(gateway: Metrics, devices: Labelled) -> str:
    lines = [f"batchmeter_{name} {value:g}" for name, value in sorted(gateway.items())]
    for (name, labels), value in sorted(devices.items()):
        text = ",".join(f'{k}="{v}"' for k, v in labels)
        lines.append(f"{name}{{{text}}} {value:g}")
    return "\n".join(lines) + "\n"


def status_health(gateway: Metrics, stats: dict[str, DeviceStats]) -> dict[str, float | str]:
    """The compact form for `.../status`: gateway figures plus each device's ok/error counts."""
    health: dict[str, float | str] = dict(gateway)
    for device, s in stats.items():
        health[f"device.{device}.ok"] = float(s.ok)
        health[f"device.{device}.errors"] = float(s.errors)
        health[f"device.{device}.latency_s"] = round(s.last_latency_s, 4)
    return health


async def serve_metrics(port: int, render: Callable[[], str], ready: asyncio.Event | None = None) -> None:
    """A tiny HTTP/1.0 server for GET /metrics on 127.0.0.1 (scraped locally or via a tunnel)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, TimeoutError, asyncio.IncompleteReadError):
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            path = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b""
            if path == b"/metrics":
                body, status = render().encode(), b"200 OK"
            else:
                body, status = b"not found\n", b"404 Not Found"
            writer.write(b"HTTP/1.0 " + status + b"\r\nContent-Type: text/plain; version=0.0.4\r\n"
                         + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            await asyncio.wait_for(writer.drain(), 5)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    if ready is not None:
        ready.set()
    async with server:
        await server.serve_forever()
