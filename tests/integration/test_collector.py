"""The collector against a real Mosquitto and a real InfluxDB: storage, idempotence, acks."""

from __future__ import annotations

import random
from typing import cast

import pytest

from cloud.blocks import BLOCK_MS
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


def test_readings_older_than_their_block_settling_are_stored_with_stale_marks(
    mosquitto: Mosquitto, influxdb: InfluxDB
) -> None:
    # the harness's readings are years old, as an outbox draining after a long outage sends
    # them: each (device, block) they fall in gets one mark, readings and marks stored together
    gateway = Gateway(mosquitto.port)
    with CollectorThread(config_for(mosquitto, influxdb)) as collector:
        for seq in range(1, 21):
            gateway.publish(seq, gateway.readings(seq).model_dump_json().encode())
        wait_until(gateway.all_acked, 20, "acks for all 20 messages")
        assert collector.count("stale_marks_total") >= 3
    gateway.close()
    marks = influxdb.query('SELECT "marked_at_ms" FROM "block_stale" GROUP BY "device"')
    blocks = {BASE_MS + s * 1000 - (BASE_MS + s * 1000) % BLOCK_MS for s in range(1, 21)}
    stored = {(str(m["tags"]["device"]), int(row[0]))  # type: ignore[index]
              for m in marks for row in cast(list[list[int]], m["values"])}
    assert stored == {(f"m{d}", start) for d in range(3) for start in blocks}
