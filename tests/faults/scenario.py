"""Run a fault against a steady load from a WireGateway, drain, then check InfluxDB.

A scenario: load reaches steady state (acks flowing), the fault runs (it waits for its own
conditions), load goes on for a while after, production stops, the gateway re-sends until
every message is acknowledged, and the checker classifies every reading.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.faults.checker import Verdict, check
from tests.faults.gateway import WireGateway
from tests.faults.store import stored_readings, stored_seqs
from tests.servers import wait_until

Fault = Callable[[], None]


@dataclass(frozen=True)
class Pace:
    warmup_messages: int = 20
    after_messages: int = 30
    drain_timeout_s: float = 60.0


def produced_at_least(gateway: WireGateway, extra: int) -> Callable[[], bool]:
    target = len(gateway.record) + extra
    return lambda: len(gateway.record) >= target


def acked_some(gateway: WireGateway) -> bool:
    return len(gateway.record) > gateway.unacknowledged + 5


def run_load(gateways: list[WireGateway], fault: Fault, pace: Pace = Pace(),
             fail_if: Callable[[], str | None] | None = None) -> None:
    for gateway in gateways:
        gateway.start()
    first = gateways[0]
    wait_until(produced_at_least(first, pace.warmup_messages), 30, "warm-up load")
    wait_until(lambda: all(acked_some(g) for g in gateways), 30, "acks to flow", fail_if=fail_if)
    fault()
    wait_until(produced_at_least(first, pace.after_messages), 60, "load after the fault")
    for gateway in gateways:
        gateway.stop_producing()
    wait_until(lambda: all(g.unacknowledged == 0 for g in gateways), pace.drain_timeout_s,
               "every message to be acknowledged", every=0.1, fail_if=fail_if)


def verdict_of(gateways: list[WireGateway], influx_url: str, database: str) -> Verdict:
    messages = [m for g in gateways for m in g.record]
    pending = {s for g in gateways for s in g.pending_seqs()}
    return check(messages, stored_readings(influx_url, database), stored_seqs(influx_url, database), pending)


def figures_of(verdict: Verdict, gateways: list[WireGateway], **extra: object) -> dict[str, object]:
    load = gateways[0].load
    out: dict[str, object] = {"load (readings/s per gateway)": load.readings_per_s}
    out |= {k: v for k, v in verdict.figures().items()}
    out["re-sends"] = sum(g.resends for g in gateways)
    return out | dict(extra)
