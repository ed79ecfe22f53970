"""The collector against a real Mosquitto and a real InfluxDB: storage, idempotence, acks."""

from __future__ import annotations

import random

import pytest

from cloud.gaps import find_gaps, influx_for
from config.cloud import CloudConfig
from tests.integration.collector_harness import BASE_MS, CollectorThread, Gateway, cloud_settings
from tests.servers import InfluxDB, Mosquitto, wait_until

pytestmark = pytest.mark.integration


def config_for(mosquitto: Mosquitto, influxdb: InfluxDB, **sections: dict[str, object]) -> CloudConfig:
    return CloudConfig.model_validate(
        cloud_settings(mosquitto.port, influxdb.url, influxdb.database, **sections)
    )


def test_every_message_replayed_three_times_shuffled_is_stored_once(
    mosquitto: Mosquitto, influxdb: InfluxDB
) -> None:
    gateway = Gateway(mosquitto.port)
    messages = [gateway.readings(seq) for seq in range(1, 61)]
    deliveries = [m for m in messages for _ in range(3)]
    random.Random(5).shuffle(deliveries)
    with CollectorThread(config_for(mosquitto, influxdb)) as collector:
        for message in deliveries:
            gateway.publish(message.seq, message.model_dump_json().encode())
        wait_until(gateway.all_acked, 20, "acks for all 60 messages")
        assert collector.count("rejected_total") == 0
    gateway.close()
    unique_readings = sum(len(m.readings) for m in messages)
    assert influxdb.count("reading", "q0") == unique_readings
    assert influxdb.count("message", "seq") == 60
    stored = influxdb.query('SELECT "q3" FROM "reading" WHERE "device" = \'m2\'')
    assert stored[0]["values"] == [[BASE_MS + s * 1000, s * 1000.0 + 23.25] for s in range(1, 61)]


async def test_gaps_are_found_from_the_message_measurement(mosquitto: Mosquitto, influxdb: InfluxDB) -> None:
    gateway = Gateway(mosquitto.port)
    config = config_for(mosquitto, influxdb)
    with CollectorThread(config):
        for seq in (1, 2, 5, 6, 9):
            gateway.publish(seq, gateway.readings(seq).model_dump_json().encode())
        wait_until(gateway.all_acked, 20, "acks")
    gateway.close()
    influx = influx_for(config)
    try:
        assert await find_gaps(influx) == {("s1", "gw1"): [(3, 4), (7, 8)]}
    finally:
        await influx.close()
