"""Collector ingest rate next to InfluxDB's and the broker's own ceilings (a benchmark, not a test).

    .venv/bin/python -m bench.collector_ingest [--messages 1000] [--readings 100] [--warmup 50] [--rounds 2]

Starts its own Mosquitto and InfluxDB on free loopback ports and, in one run:
- InfluxDB's ceiling: the very lines the collector writes for these messages (same point
  shape), posted in 10,000-point batches over one keep-alive connection, into a database
  of their own; measured right before and after each collector round and averaged (the
  machine drifts); `--rounds` rounds, the median ratio is the result;
- the broker's ceiling: plain paho QoS 1 publish -> subscribe of the same payloads;
- the collector (`batchmeter-cloud run` as a subprocess) end to end: MQTT publish -> parse
  -> points -> InfluxDB -> ack. The publisher never waits per message (QoS 1, up to 1,000
  in flight); `--warmup` messages are acked before the clock starts; the collector's CPU
  time comes from /proc/<pid>/stat over the measured window only.
One reading = one point (one device's values at one time).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.procstat import cpu_seconds
from cloud.points import reading_lines
from config.wire import Reading, ReadingsMessage, TopicKind, topic
from tests.integration.collector_harness import (
    BASE_MS,
    CollectorProcess,
    Gateway,
    cloud_settings,
    write_config,
)
from tests.servers import InfluxDB, Mosquitto, wait_until

BATCH = 10_000
INFLIGHT = 1_000



def influx_ceiling(influx: InfluxDB, database: str, lines: list[str]) -> float:
    """Points/s InfluxDB takes when fed pre-built bodies back to back."""
    influx.create_database(database)
    bodies = ["\n".join(lines[i:i + BATCH]).encode() for i in range(0, len(lines), BATCH)]
    with httpx.Client(timeout=120) as client:
        started = time.perf_counter()
        for body in bodies:
            response = client.post(f"{influx.url}/write", params={"db": database, "precision": "ns"},
                                   content=body)
            response.raise_for_status()
        return len(lines) / (time.perf_counter() - started)


def broker_ceiling(mosquitto: Mosquitto, payloads: list[bytes], readings: int) -> float:
    """Readings/s through the broker alone: paho QoS 1 publish -> paho subscribe, no work."""
    name = topic("bench", "gw1", TopicKind.READINGS)
    received = threading.Semaphore(0)
    subscribed = threading.Event()
    subscriber = _client(mosquitto.port)
    subscriber.on_subscribe = lambda *_: subscribed.set()
    subscriber.on_message = lambda *_: received.release()
    subscriber.subscribe(name, qos=1)
    subscriber.loop_start()
    publisher = _client(mosquitto.port)
    publisher.loop_start()
    try:
        wait_until(subscribed.is_set, 10, "the bench subscriber")
        started = time.perf_counter()
        for payload in payloads:
            publisher.publish(name, payload, qos=1)
        for _ in payloads:
            if not received.acquire(timeout=120):
                raise TimeoutError("the broker did not deliver every message")
        return len(payloads) * readings / (time.perf_counter() - started)
    finally:
        for client in (publisher, subscriber):
            client.disconnect()
            client.loop_stop()


def _client(port: int) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.max_inflight_messages_set(INFLIGHT)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    return client


def publish_all(gateway: Gateway, payloads: dict[int, bytes]) -> None:
    """Queue every message at once (QoS 1); paho keeps up to INFLIGHT unacknowledged."""
    name = topic(gateway.site, gateway.gateway, TopicKind.READINGS)
    for seq, payload in payloads.items():
        gateway.sent[seq] = (name, payload)
        gateway.client.publish(name, payload, qos=1)


def collector_run(
    mosquitto: Mosquitto, influx: InfluxDB, workdir: Path, payloads: list[bytes], readings: int, warmup: int,
    database: str | None = None,
) -> tuple[float, float]:
    """(readings/s end to end, collector CPU us per reading), warm-up excluded."""
    if database is not None:
        influx.create_database(database)  # a fresh one per round: no run overwrites another's points
    config = write_config(workdir / "cloud.yaml", cloud_settings(
        mosquitto.port, influx.url, database or influx.database,
        batching={"max_points": BATCH, "max_age_ms": 100},
        validation={"max_payload_bytes": 16 * 1024 * 1024}))
    collector = CollectorProcess(config)
    gateway = Gateway(mosquitto.port)
    numbered = dict(enumerate(payloads, start=1))
    try:
        publish_all(gateway, {seq: p for seq, p in numbered.items() if seq <= warmup})
        wait_until(gateway.all_acked, 120, "the warm-up acked", every=0.005)
        cpu_before, started = cpu_seconds(collector.proc.pid), time.perf_counter()
        publish_all(gateway, {seq: p for seq, p in numbered.items() if seq > warmup})
        wait_until(gateway.all_acked, 300, "every message acked", every=0.005)
        elapsed, cpu = time.perf_counter() - started, cpu_seconds(collector.proc.pid) - cpu_before
        measured = (len(payloads) - warmup) * readings
        return measured / elapsed, cpu / measured * 1e6
    finally:
        gateway.close()
        collector.stop()


def make_messages(count: int, readings: int) -> list[ReadingsMessage]:
    """The gateway stub's messages: `readings` devices x 4 quantities, one poll per seq."""
    return [
        ReadingsMessage(site="s1", gateway="gw1", seq=seq, readings=[
            Reading(device=f"m{d}", ts_ms=BASE_MS + seq * 1000,
                    values={f"q{q}": seq * 1000.0 + d * 10 + q + 0.25 for q in range(4)})
            for d in range(readings)
        ])
        for seq in range(1, count + 1)
    ]


def prepared(count: int, readings: int) -> tuple[list[bytes], list[str]]:
    """The gateway stub's payloads, and the `reading` lines the collector makes of them."""
    messages = make_messages(count, readings)
    payloads = [m.model_dump_json().encode() for m in messages]
    return payloads, [line for m in messages for line in reading_lines(m) if line.startswith("reading,")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--readings", type=int, default=100, help="readings per message")
    parser.add_argument("--warmup", type=int, default=50, help="messages acked before the clock starts")
    parser.add_argument("--rounds", type=int, default=2,
                        help="ceiling/collector/ceiling rounds; shared machines drift, so the median counts")
    args = parser.parse_args()
    payloads, lines = prepared(args.messages, args.readings)
    with tempfile.TemporaryDirectory() as tmp:
        mosquitto = Mosquitto(Path(tmp) / "mosquitto").start()
        influx = InfluxDB(Path(tmp) / "influxdb").start()
        try:
            broker = broker_ceiling(mosquitto, payloads, args.readings)
            rounds = [one_round(mosquitto, influx, Path(tmp), payloads, lines, args, n)
                      for n in range(args.rounds)]
        finally:
            influx.stop()
            mosquitto.stop()
    report(rounds, broker)


Round = tuple[float, float, float]
"""(collector readings/s, collector CPU us per reading, InfluxDB ceiling points/s)"""


def one_round(
    mosquitto: Mosquitto, influx: InfluxDB, workdir: Path, payloads: list[bytes], lines: list[str],
    args: argparse.Namespace, n: int,
) -> Round:
    """The collector between two ceiling measurements (each in a fresh database)."""
    before = influx_ceiling(influx, f"ceiling_before_{n}", lines)
    rate, cpu_us = collector_run(mosquitto, influx, workdir, payloads, args.readings, args.warmup,
                                 database=f"collector_{n}")
    after = influx_ceiling(influx, f"ceiling_after_{n}", lines)
    return rate, cpu_us, (before + after) / 2


def report(rounds: list[Round], broker: float) -> None:
    for n, (rate, cpu_us, ceiling) in enumerate(rounds, start=1):
        print(f"round {n}: collector {rate:,.0f} readings/s, ceiling {ceiling:,.0f} points/s, "
              f"ratio {rate / ceiling:.0%}, {cpu_us:.1f} us CPU per reading")
    rate, cpu_us, ceiling = sorted(rounds, key=lambda r: r[0] / r[2])[len(rounds) // 2]
    print(f"InfluxDB ceiling (collector's lines, 10k batches): {ceiling:,.0f} points/s")
    print(f"broker ceiling (paho QoS 1 pub -> sub, same payloads): {broker:,.0f} readings/s")
    print(f"collector end to end (MQTT -> InfluxDB -> ack):     {rate:,.0f} readings/s")
    print(f"ratio to the InfluxDB ceiling (median round):       {rate / ceiling:.0%}")
    print(f"collector CPU per reading:                          {cpu_us:.1f} us "
          "(4 quantities per reading)")


if __name__ == "__main__":
    main()
