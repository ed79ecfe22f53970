"""The agent's own Python per device poll, without I/O: what is left once the wire is free.

The agent is built from a 50-device gateway config as `python -m agent run` builds it, its
Modbus links replaced by a stub that answers every read at once with a fixed SDM630 block,
and its publisher by a no-op. Timed with `time.process_time`, the collector paused:
- poll and assemble: every owner's `poll_tick` for one tick, with the cycle assembler's
  `report` and `release` (the flush itself stubbed out);
- flush: `Agent.flush` of those cycles (events, the readings JSON, one fsynced outbox commit);
- and inside the flush, per cycle: the readings JSON alone, event detection alone.

Run: `.venv/bin/python -m bench.agent_python [--devices 50] [--cycles 200]` (on demand).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from agent.app import Agent
from agent.batches import Seen
from agent.plan import plan_profile
from agent.poller import Polled
from config.gateway import Gateway
from config.profile import Function, load_profile
from tests.agent_harness import gateway_dict


class _Answering:
    """A connected link answering every read at once: 230.0 in every float register pair."""

    connected = True

    def __init__(self, timeout: float) -> None:
        self.connection = SimpleNamespace(timeout=timeout)  # all a poller asks of it

    async def read(self, function: Function, unit: int, address: int, count: int) -> list[int]:
        return [0x4366, 0] * (count // 2) + [0] * (count % 2)


def _gateway(devices: int, work: Path) -> Gateway:
    connections = {f"c{i}": {"type": "tcp", "host": "127.0.0.1", "port": 502} for i in range(devices)}
    meters = [{"id": f"m{i}", "connection": f"c{i}", "unit": 1, "profile": "sdm630"} for i in range(devices)]
    return Gateway.model_validate(gateway_dict(1883, work / "outbox.sqlite", connections, meters))


def _per(label: str, seconds: float, count: int, unit: str) -> None:
    print(f"{label}: {seconds / count * 1e6:.1f} us per {unit}")


async def _measure(devices: int, cycles: int) -> None:
    with tempfile.TemporaryDirectory() as work:
        gateway = _gateway(devices, Path(work))
        profile = load_profile("sdm630")
        agent = Agent(gateway, {d.id: profile for d in gateway.devices})
        for owner in agent.owners:
            owner.link = _Answering(1.0)  # type: ignore[assignment]
        flushed: list[tuple[int, list[Polled]]] = []
        agent.assembler.flush = lambda tick, polled: flushed.append((tick, polled))
        agent.publisher.wake = lambda: None  # type: ignore[method-assign]
        gc.disable()
        try:
            start = time.process_time()
            for tick in range(1000, 1000 * (cycles + 1), 1000):
                for owner in agent.owners:
                    agent.assembler.release(owner.name, tick)
                    agent.assembler.report(owner.name, tick, await owner.poll_tick(tick, owner.due(tick)))
                    agent.assembler.release(owner.name, tick + 1)
            _per("poll and assemble", time.process_time() - start, cycles * devices, "device")
            start = time.process_time()
            for tick, polled in flushed:
                agent.flush(tick, polled)
            spent = time.process_time() - start
            _per("flush (events, JSON, fsynced commit)", spent, cycles * devices, "device")
            polled = flushed[0][1]
            _time("  readings JSON", lambda: agent.payloads.payload("s", "g", 1, polled), cycles, devices)
            seen = [Seen(p.device, p.ts_ms, p.values) for p in polled]
            _time("  event detection", lambda: agent.detector.observe(seen), cycles, devices)
        finally:
            gc.enable()
            agent.outbox.close()
    values = sum(len(b.slots) for b in plan_profile(profile))
    print(f"({devices} devices, {values} values each, {cycles} cycles)")


def _time(label: str, action: Callable[[], object], cycles: int, devices: int) -> None:
    start = time.process_time()
    for _ in range(cycles):
        action()
    _per(label, time.process_time() - start, cycles * devices, "device")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--cycles", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(_measure(args.devices, args.cycles))


if __name__ == "__main__":
    main()
