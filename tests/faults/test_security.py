"""Per-gateway credentials, the broker's ACL, payload identity, TLS and secrets in logs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from config.wire import Reading, ReadingsMessage, TopicKind, topic
from tests.faults.conftest import Record
from tests.faults.gateway import Credentials, Load, WireGateway
from tests.faults.scenario import figures_of, run_load, verdict_of
from tests.faults.secure import Attempt, SecureBroker, make_tls, mqtt_client
from tests.faults.services import CollectorSpec, start_collector
from tests.faults.store import dead_letters, stored_readings
from tests.servers import InfluxDB, ManagedProcess, Mosquitto, wait_until

pytestmark = pytest.mark.faults

USERS = ["collector", "gw-a", "gw-b"]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[tuple[SecureBroker, Mosquitto]]:
    secure = SecureBroker(tmp_path / "secure", USERS)
    server = secure.start()
    yield secure, server
    server.stop()


@pytest.fixture
def collector(broker: tuple[SecureBroker, Mosquitto], influxdb: InfluxDB, tmp_path: Path
              ) -> Iterator[ManagedProcess]:
    secure, server = broker
    spec = CollectorSpec(server.host, server.port, influxdb.url, influxdb.database,
                         username="collector", password=secure.passwords["collector"])
    process = start_collector(spec, tmp_path)
    yield process
    process.kill()


def _connack(server: Mosquitto, username: str | None, password: str | None) -> Attempt:
    attempt = Attempt()
    client = mqtt_client(f"probe-{username}", attempt, username, password)
    client.connect_async(server.host, server.port)
    client.loop_start()
    try:
        wait_until(attempt.connected.is_set, 10, "a CONNACK")
    finally:
        client.loop_stop()
        client.disconnect()
    return attempt


def _message(gateway: str, seq: int = 1) -> bytes:
    reading = Reading(device="m1", ts_ms=1_790_000_000_000, values={"energy_kwh": 1.0})
    message = ReadingsMessage(site="site1", gateway=gateway, seq=seq, readings=[reading])
    return message.model_dump_json().encode()


@pytest.mark.parametrize(("username", "password"), [(None, None), ("gw-a", "wrong"), ("nobody", "x")])
def test_anonymous_and_wrong_password_are_refused(broker: tuple[SecureBroker, Mosquitto],
                                                  username: str | None, password: str | None) -> None:
    attempt = _connack(broker[1], username, password)
    assert attempt.connack.is_failure
    assert attempt.connack.getName() in ("Not authorized", "Bad user name or password")


@contextmanager
def _connected_as_gw_a(broker: tuple[SecureBroker, Mosquitto]) -> Iterator[tuple[Any, Attempt]]:
    """A paho client logged in as gw-a with its own password, disconnected afterwards."""
    secure, server = broker
    attempt = Attempt()
    client = mqtt_client("gw-a", attempt, "gw-a", secure.passwords["gw-a"])
    client.connect_async(server.host, server.port)
    client.loop_start()
    try:
        wait_until(attempt.connected.is_set, 10, "gw-a to connect")
        yield client, attempt
    finally:
        client.loop_stop()
        client.disconnect()


def test_gateway_a_cannot_publish_as_gateway_b(broker: tuple[SecureBroker, Mosquitto],
                                               collector: ManagedProcess, influxdb: InfluxDB,
                                               figures: Record) -> None:
    with _connected_as_gw_a(broker) as (client, attempt):
        assert not attempt.connack.is_failure
        forged = client.publish(topic("site1", "gw-b", TopicKind.READINGS), _message("gw-b"), qos=1)
        wait_until(lambda: forged.mid in attempt.pubacks, 10, "the broker's PUBACK")
        # Then gw-a's own topic, as a positive control that the path from gw-a works.
        own = client.publish(topic("site1", "gw-a", TopicKind.READINGS), _message("gw-a"), qos=1)
        wait_until(lambda: influxdb.count("reading", "energy_kwh", "gateway = 'gw-a'") == 1, 20,
                   "gw-a's own reading in InfluxDB", fail_if=collector.exited)
    denial = attempt.pubacks[forged.mid]
    assert denial.getName() == "Not authorized", denial
    assert not attempt.pubacks[own.mid].is_failure
    assert influxdb.count("reading", "energy_kwh", "gateway = 'gw-b'") == 0
    figures("security: gateway A publishes as gateway B", {
        "forged messages": 1, "broker answer": denial.getName(), "stored from forged": 0,
        "own-topic control stored": 1})


def test_a_payload_claiming_another_gateway_is_dead_lettered(
    broker: tuple[SecureBroker, Mosquitto], collector: ManagedProcess, influxdb: InfluxDB
) -> None:
    with _connected_as_gw_a(broker) as (client, _):
        client.publish(topic("site1", "gw-a", TopicKind.READINGS), _message("gw-b", seq=7), qos=1)
        wait_until(lambda: dead_letters(influxdb.url, influxdb.database), 20, "a dead letter",
                   fail_if=collector.exited)
    assert stored_readings(influxdb.url, influxdb.database) == []
    detail = str(dead_letters(influxdb.url, influxdb.database)[0])
    assert "gw-b" in detail


def test_tls_credentials_acl_end_to_end_and_no_secret_in_logs(
    influxdb: InfluxDB, tmp_path: Path, figures: Record
) -> None:
    tls = make_tls(tmp_path / "pki")
    secure = SecureBroker(tmp_path / "secure", USERS, tls=tls)
    server = secure.start()
    spec = CollectorSpec(server.host, server.port, influxdb.url, influxdb.database, username="collector",
                         password=secure.passwords["collector"], ca_file=tls.ca)
    process = start_collector(spec, tmp_path)
    gateway = WireGateway(server.host, server.port, gateway="gw-a", load=Load(devices=20),
                          credentials=Credentials("gw-a", secure.passwords["gw-a"], str(tls.ca)))
    try:
        run_load([gateway], lambda: None, fail_if=process.exited)
        verdict = verdict_of([gateway], influxdb.url, influxdb.database)
    finally:
        gateway.close()
        process.kill()
        server.stop()
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*.log"))
    leaked = [user for user, password in secure.passwords.items() if password in logs]
    figures("security: TLS + per-gateway credentials + ACL", figures_of(
        verdict, [gateway], **{"logs scanned (bytes)": len(logs), "passwords found in logs": len(leaked)}))
    assert verdict.clean, verdict.summary()
    assert verdict.stored_once == verdict.sent > 0
    assert leaked == []
