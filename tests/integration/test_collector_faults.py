"""Faults: InfluxDB outage, collector SIGKILL mid-write, two replicas with one killed."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.cloud import CloudConfig
from tests.integration.collector_harness import (
    CollectorProcess,
    CollectorThread,
    Gateway,
    cloud_settings,
    write_config,
)
from tests.servers import InfluxDB, Mosquitto, wait_until

pytestmark = pytest.mark.integration


def publish_range(gateway: Gateway, seqs: range, devices: int = 3) -> None:
    for seq in seqs:
        gateway.publish(seq, gateway.readings(seq, devices=devices).model_dump_json().encode())


def resend_until_all_acked(gateway: Gateway, rounds: int = 10) -> None:
    """What the agent does: re-send what stays unacknowledged until everything is acked."""
    for _ in range(rounds):
        try:
            wait_until(gateway.all_acked, 3, "acks")
            return
        except TimeoutError:
            gateway.resend_unacked()
    wait_until(gateway.all_acked, 10, "acks after re-sending")


@pytest.mark.parametrize("failed_writes", [1, 4])
def test_no_ack_while_influxdb_is_down_and_all_stored_after(
    mosquitto: Mosquitto, own_influxdb: InfluxDB, failed_writes: int
) -> None:
    gateway = Gateway(mosquitto.port)
    config = CloudConfig.model_validate(
        cloud_settings(mosquitto.port, own_influxdb.url, own_influxdb.database)
    )
    with CollectorThread(config) as collector:
        publish_range(gateway, range(1, 21))
        wait_until(gateway.all_acked, 20, "acks before the outage")
        own_influxdb.stop()
        publish_range(gateway, range(21, 41))
        wait_until(lambda: collector.count("write_errors_total") >= failed_writes, 30, "failed writes")
        assert not gateway.acked & set(range(21, 41)), "acked data InfluxDB never stored"
        own_influxdb.start()
        wait_until(gateway.all_acked, 30, "acks after InfluxDB came back")
    gateway.close()
    assert own_influxdb.count("message", "seq") == 40
    assert own_influxdb.count("reading", "q0") == 40 * 3


def test_sigkill_mid_write_then_resend_completes_without_doubles(
    mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path
) -> None:
    settings = cloud_settings(mosquitto.port, influxdb.url, influxdb.database, batching={"max_points": 2000})
    config_path = write_config(tmp_path / "cloud.yaml", settings)
    gateway = Gateway(mosquitto.port)
    first = CollectorProcess(config_path)
    try:
        publish_range(gateway, range(1, 401), devices=20)
        wait_until(lambda: gateway.acked, 20, "the first ack")
        first.kill()
    finally:
        first.stop()
    assert not gateway.all_acked(), "killed too late to be mid-write"
    second = CollectorProcess(config_path)
    try:
        resend_until_all_acked(gateway)
    finally:
        second.stop()
        gateway.close()
    assert influxdb.count("message", "seq") == 400
    assert influxdb.count("reading", "q0") == 400 * 20


def test_two_replicas_split_the_load_and_one_carries_on_alone(
    mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path
) -> None:
    paths = [
        write_config(
            tmp_path / f"cloud{n}.yaml", cloud_settings(mosquitto.port, influxdb.url, influxdb.database)
        )
        for n in (1, 2)
    ]
    gateway = Gateway(mosquitto.port)
    replicas = [CollectorProcess(path) for path in paths]
    try:
        publish_range(gateway, range(1, 201))
        wait_until(gateway.all_acked, 20, "acks from the replicas")
        shares = [r.metric('messages_total{kind="readings",outcome="accepted"}') for r in replicas]
        assert all(share > 0 for share in shares), f"load not split: {shares}"
        replicas[0].kill()
        publish_range(gateway, range(201, 301))
        resend_until_all_acked(gateway)
    finally:
        for replica in replicas:
            replica.stop()
        gateway.close()
    assert influxdb.count("message", "seq") == 300
    assert influxdb.count("reading", "q0") == 300 * 3
