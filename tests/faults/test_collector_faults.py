"""Broker, collector and InfluxDB faults under a steady load from test gateways.

The gateways here speak the wire contract themselves (tests/faults/gateway.py), so the
record of what was sent is complete and the collector's half of the reliability contract
is judged alone: every reading stored exactly once, whatever breaks in between.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import Record
from tests.faults.gateway import Load, WireGateway
from tests.faults.httpfault import Fault, HttpStats, InfluxFaultProxy
from tests.faults.scenario import Pace, figures_of, produced_at_least, run_load, verdict_of
from tests.faults.services import CollectorSpec, start_collector
from tests.faults.store import dead_letters
from tests.servers import InfluxDB, ManagedProcess, Mosquitto, wait_until

pytestmark = pytest.mark.faults

OUTAGE_MESSAGES = 20
"""How many messages (2 s at 10/s) a gateway produces during each outage."""


@pytest.fixture
def gateway(mosquitto: Mosquitto) -> Iterator[WireGateway]:
    gw = WireGateway(mosquitto.host, mosquitto.port, load=Load(devices=20, messages_per_s=10))
    yield gw
    gw.close()


@pytest.fixture
def collector(mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path) -> Iterator[ManagedProcess]:
    spec = CollectorSpec(mosquitto.host, mosquitto.port, influxdb.url, influxdb.database)
    process = start_collector(spec, tmp_path)
    yield process
    process.kill()


def _finish(gateway: WireGateway, influxdb: InfluxDB, figures: Record, name: str, **extra: object) -> None:
    verdict = verdict_of([gateway], influxdb.url, influxdb.database)
    extra["dead letters"] = len(dead_letters(influxdb.url, influxdb.database))
    figures(name, figures_of(verdict, [gateway], **extra))
    assert verdict.clean, verdict.summary()
    assert verdict.lost == verdict.duplicated == 0


def test_baseline_no_fault(gateway: WireGateway, collector: ManagedProcess, influxdb: InfluxDB,
                           figures: Record) -> None:
    run_load([gateway], lambda: None, fail_if=collector.exited)
    _finish(gateway, influxdb, figures, "baseline: no fault")


def test_broker_stopped_and_restarted(gateway: WireGateway, collector: ManagedProcess,
                                      mosquitto: Mosquitto, influxdb: InfluxDB, figures: Record) -> None:
    def outage() -> None:
        mosquitto.stop()
        wait_until(produced_at_least(gateway, OUTAGE_MESSAGES), 30, "load during the outage")
        mosquitto.start()

    run_load([gateway], outage, fail_if=collector.exited)
    _finish(gateway, influxdb, figures, "broker stopped (SIGTERM) and restarted", outages=1)


@pytest.mark.parametrize("rounds", [3])
def test_broker_killed_in_a_loop(gateway: WireGateway, collector: ManagedProcess, mosquitto: Mosquitto,
                                 influxdb: InfluxDB, figures: Record, rounds: int) -> None:
    def crashes() -> None:
        for _ in range(rounds):
            mosquitto.kill()
            wait_until(produced_at_least(gateway, OUTAGE_MESSAGES // 2), 30, "load while the broker is down")
            mosquitto.start()
            wait_until(produced_at_least(gateway, OUTAGE_MESSAGES // 2), 30, "load while the broker is up")

    run_load([gateway], crashes, fail_if=collector.exited)
    _finish(gateway, influxdb, figures, "broker killed (SIGKILL) in a loop", kills=rounds)


def _kill_while_hung(gateway: WireGateway, mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path,
                     rounds: int, arm: Callable[[InfluxFaultProxy], None]) -> HttpStats:
    """Under load, `rounds` times: arm faults that end in a hung write, SIGKILL the collector
    while InfluxDB (the proxy) holds that write, start a new one. The proxy's stats at the end."""
    with InfluxFaultProxy(influxdb.url) as proxy:
        spec = CollectorSpec(mosquitto.host, mosquitto.port, proxy.url, influxdb.database)
        current = [start_collector(spec, tmp_path)]

        def crashes() -> None:
            for _ in range(rounds):
                arm(proxy)
                wait_until(lambda: proxy.stats.hung > 0 and proxy.armed_left == 0, 30, "a write in flight")
                current[0].kill(signal.SIGKILL)
                proxy.clear()
                current[0] = start_collector(spec, tmp_path)
                proxy.stats.hung = 0

        try:
            run_load([gateway], crashes, fail_if=lambda: current[0].exited())
        finally:
            current[0].kill()
        return proxy.stats


def _hang(proxy: InfluxFaultProxy) -> None:
    proxy.arm(Fault.HANG, count=1)


def _partial_then_hang(proxy: InfluxFaultProxy) -> None:
    proxy.arm(Fault.PARTIAL, count=1)
    proxy.then(Fault.HANG, count=1)


@pytest.mark.parametrize("rounds", [3])
def test_collector_killed_mid_write(gateway: WireGateway, mosquitto: Mosquitto, influxdb: InfluxDB,
                                    tmp_path: Path, figures: Record, rounds: int) -> None:
    # Writes are slowed to a hang so each kill lands while a batch is in InfluxDB's hands.
    _kill_while_hung(gateway, mosquitto, influxdb, tmp_path, rounds, _hang)
    _finish(gateway, influxdb, figures, "collector killed (SIGKILL) mid-write", kills=rounds)


@pytest.mark.parametrize("rounds", [3])
def test_collector_killed_while_narrowing_down_a_partial_write(
    gateway: WireGateway, mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path, figures: Record,
    rounds: int,
) -> None:
    # InfluxDB stores half a batch and answers 400; the collector re-sends the halves to find
    # the refused lines, and is killed while the first half is in InfluxDB's hands: half the
    # batch is stored, none of it acked. The gateway re-sends it all to the next collector.
    partial = _kill_while_hung(gateway, mosquitto, influxdb, tmp_path, rounds, _partial_then_hang).partial
    _finish(gateway, influxdb, figures, "collector killed (SIGKILL) while splitting a partial write",
            kills=rounds, **{"writes half-stored": partial})
    assert partial == rounds
    assert dead_letters(influxdb.url, influxdb.database) == []  # every line was good: none refused


def test_influxdb_stopped_and_restarted(gateway: WireGateway, mosquitto: Mosquitto,
                                        own_influxdb: InfluxDB, tmp_path: Path, figures: Record) -> None:
    spec = CollectorSpec(mosquitto.host, mosquitto.port, own_influxdb.url, own_influxdb.database)
    process = start_collector(spec, tmp_path)

    def outage() -> None:
        own_influxdb.stop()
        wait_until(produced_at_least(gateway, OUTAGE_MESSAGES), 30, "load while InfluxDB is down")
        own_influxdb.start()

    try:
        run_load([gateway], outage, fail_if=process.exited)
    finally:
        process.kill()
    _finish(gateway, own_influxdb, figures, "InfluxDB stopped and restarted", outages=1)


@pytest.mark.parametrize(("fault", "count"), [(Fault.FAIL, 8), (Fault.PARTIAL, 3)])
def test_influxdb_answers_errors(gateway: WireGateway, mosquitto: Mosquitto, influxdb: InfluxDB,
                                 tmp_path: Path, figures: Record, fault: Fault, count: int) -> None:
    with InfluxFaultProxy(influxdb.url) as proxy:
        spec = CollectorSpec(mosquitto.host, mosquitto.port, proxy.url, influxdb.database)
        process = start_collector(spec, tmp_path)

        def errors() -> None:
            proxy.arm(fault, count=count, status=503)
            wait_until(lambda: proxy.armed_left == 0, 30, f"{count} faulty writes")

        try:
            run_load([gateway], errors, fail_if=process.exited)
        finally:
            process.kill()
        stats = proxy.stats
    name = {Fault.FAIL: "InfluxDB answers 503", Fault.PARTIAL: "InfluxDB answers a partial write (400)"}
    _finish(gateway, influxdb, figures, name[fault], **{"faulty writes": count,
            "writes failed": stats.failed, "writes half-stored": stats.partial})


def test_duplicated_and_reordered_delivery(gateway: WireGateway, collector: ManagedProcess,
                                           influxdb: InfluxDB, figures: Record) -> None:
    replayed: list[int] = []

    def replay() -> None:
        sent = list(gateway.record)
        # Every message so far again, newest first, twice: duplicates and reordering at once.
        gateway.replay(sent[::-1] + sent[::-1])
        replayed.append(2 * len(sent))

    run_load([gateway], replay, fail_if=collector.exited)
    _finish(gateway, influxdb, figures, "duplicated and reordered delivery",
            **{"messages replayed (x2, newest first)": replayed[0]})


@pytest.mark.parametrize(
    "step_ms",
    [-3_600_000, 3_600_000],
)
def test_gateway_clock_stepped_by_an_hour(gateway: WireGateway, collector: ManagedProcess,
                                          influxdb: InfluxDB, figures: Record, step_ms: int) -> None:
    run_load([gateway], lambda: gateway.step_clock(step_ms), Pace(), fail_if=collector.exited)
    direction = "back" if step_ms < 0 else "forward"
    _finish(gateway, influxdb, figures, f"gateway clock stepped {direction} by an hour")
