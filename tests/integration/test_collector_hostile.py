"""10,000 malformed and hostile payloads among valid traffic: the collector stays up,
counts and dead-letters every bad one, stores every valid one."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import pytest

from config.cloud import CloudConfig
from config.wire import TopicKind, topic
from tests.integration.collector_harness import BASE_MS, CollectorThread, Gateway, cloud_settings
from tests.servers import InfluxDB, Mosquitto, wait_until

pytestmark = pytest.mark.integration

BAD = 10_000
GOOD = 200


def hostile_payloads(gateway: Gateway, rng: random.Random) -> list[tuple[str, bytes, str]]:
    """(topic, payload, expected reason) for every kind of bad input we can think of."""
    own = topic("s1", "gw1", TopicKind.READINGS)
    good = json.loads(gateway.readings(1).model_dump_json())

    def variant(**changes: object) -> bytes:
        return json.dumps({**good, **changes}).encode()

    makers: list[Callable[[], tuple[str, bytes, str]]] = [
        lambda: (own, rng.randbytes(rng.randint(0, 300)) + b"\xff", "bad_json"),
        lambda: (own, b"{" * 5000, "bad_json"),
        lambda: (own, b'{"site": "s1", "gateway": "gw1", "seq": 7, "readings": [', "bad_json"),
        lambda: (own, b"null", "bad_schema"),
        lambda: (own, b"[1, 2, 3]", "bad_schema"),
        lambda: (own, variant(seq=-1), "bad_schema"),
        lambda: (own, variant(seq="7"), "bad_schema"),
        lambda: (own, variant(gateway="gw 1,x=y"), "bad_schema"),
        lambda: (own, variant(extra=1), "bad_schema"),
        lambda: (
            own,
            variant(readings=[{"device": "m1", "ts_ms": BASE_MS, "values": {"q": 1e999}}]),
            "bad_schema",
        ),
        lambda: (
            own,
            variant(readings=[{"device": "m1", "ts_ms": BASE_MS, "values": {"q": [1]}}]),
            "bad_schema",
        ),
        lambda: (own, variant(readings=[{"device": "m\n1", "ts_ms": BASE_MS}]), "bad_schema"),
        lambda: (own, variant(gateway="gw2"), "topic_mismatch"),
        lambda: (own, variant(readings=[{"device": "m1", "ts_ms": 10**15}]), "timestamp"),
        lambda: (
            own,
            variant(readings=[{"device": "m1", "ts_ms": BASE_MS, "values": {"time": 1.0}}]),
            "unstorable",
        ),
        lambda: (own, b" " * 70_000 + b"{}", "too_large"),
        lambda: (topic("s1", "gw1", TopicKind.EVENTS), variant(events=[{"kind": "boom"}]), "bad_schema"),
    ]
    return [rng.choice(makers)() for _ in range(BAD)]


def test_hostile_payloads_are_dead_lettered_and_valid_ones_stored(
    mosquitto: Mosquitto, influxdb: InfluxDB
) -> None:
    rng = random.Random(9)
    gateway = Gateway(mosquitto.port)
    bad = hostile_payloads(gateway, rng)
    good = [(seq, gateway.readings(seq, devices=2, quantities=2)) for seq in range(1000, 1000 + GOOD)]
    config = CloudConfig.model_validate(cloud_settings(mosquitto.port, influxdb.url, influxdb.database))
    with CollectorThread(config) as collector:
        stream: list[tuple[str, bytes]] = [(t, p) for t, p, _ in bad]
        for seq, message in good:
            gateway.sent[seq] = (topic("s1", "gw1", TopicKind.READINGS), message.model_dump_json().encode())
            stream.insert(rng.randrange(len(stream) + 1), gateway.sent[seq])
        for name, payload in stream:
            gateway.client.publish(name, payload, qos=1)
        wait_until(
            lambda: collector.count("rejected_total") >= BAD and gateway.all_acked(),
            60,
            "every bad message counted and every good one acked",
            fail_if=lambda: repr(collector.error) if collector.error else None,
        )
        wait_until(lambda: collector.count("queue_depth") == 0, 20, "the last batch written")
        expected: dict[str, int] = {}
        for _, _, reason in bad:
            expected[reason] = expected.get(reason, 0) + 1
        for reason, count in expected.items():
            assert collector.metrics.value("batchmeter_collector_rejected_total", reason=reason) == count, (
                reason
            )
    gateway.close()
    assert influxdb.count("dead_letter", "detail") == BAD
    assert influxdb.count("reading", "q0") == GOOD * 2
    assert influxdb.count("message", "seq") == GOOD
