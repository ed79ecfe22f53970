"""Collector throughput, MQTT -> InfluxDB with end-to-end acks, beside both of its ceilings.

On one broker and one InfluxDB, in this order: InfluxDB's own ceiling (raw line protocol
in large batches), the broker's ceiling (plain paho publish/subscribe), then the collector
fed flat out by 4 gateways' worth of unique messages. Its sustained rate is readings acked
from the moment a tenth of them were acked (start-up and the first batches left out) to the
last ack (every one stored before it is acked); its CPU is the collector process's over
that same span.

Then the collector engineer's own harness (bench/collector_ingest.py: 4 quantities per
reading, 100 readings per message, InfluxDB's ceiling with the very same lines before and
after, the broker's with the same payloads) runs on the same servers, its own sequence.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench import broker_ceiling, collector_ingest, influx_ceiling
from bench.ackwatch import AckWatch
from bench.cloud_fixture import collector
from bench.options import Options
from bench.proc import child, python_argv
from bench.procstat import sample
from bench.results import Entry
from bench.services import broker, influxdb
from tests.servers import InfluxDB, Mosquitto, wait_until

PER_MESSAGE = 50


def _collector_rate(readings: int, workdir: Path, mqtt: Mosquitto, influx: InfluxDB) -> tuple[float, float]:
    """(readings/s, CPU us per reading) of one collector replica."""
    messages = readings // PER_MESSAGE
    watch = AckWatch(mqtt.host, mqtt.port)
    try:
        with collector(workdir, mqtt.port, influx.url, influx.database) as cloud:
            argv = python_argv("bench.publisher", "--port", str(mqtt.port), "--messages", str(messages))
            with child(argv, workdir / "publisher.log", ready="READY", timeout=300):
                wait_until(lambda: watch.count() >= messages // 10, 600, "a tenth acked", every=0.01)
                cpu_before, acked_before, began = sample(cloud.pid).cpu_s, watch.count(), time.time()
                wait_until(lambda: watch.count() >= messages, 600, f"{messages} messages acked", every=0.01)
                cpu = sample(cloud.pid).cpu_s - cpu_before
            measured = (messages - acked_before) * PER_MESSAGE
            elapsed = watch.last_ack - began
    finally:
        watch.close()
    stored = influx.count("reading", "power_w")
    if stored != messages * PER_MESSAGE:
        raise RuntimeError(f"collector stored {stored} readings of {messages * PER_MESSAGE}")
    return measured / elapsed, cpu / measured * 1e6


def _harness(readings: int, workdir: Path, mqtt: Mosquitto, influx: InfluxDB) -> list[Entry]:
    """The collector engineer's own sequence (bench/collector_ingest.main), on our servers."""
    per_message = 100
    count = max(readings // 300, 60)  # 1,000 messages in the full run: the harness's own default
    payloads, lines = collector_ingest.prepared(count, per_message)
    before = collector_ingest.influx_ceiling(influx, "harness_ceiling_before", lines)
    broker_limit = collector_ingest.broker_ceiling(mqtt, payloads, per_message)
    influx.create_database("harness")
    influx.database = "harness"
    rate, cpu_us = collector_ingest.collector_run(mqtt, influx, workdir, payloads, per_message, count // 20)
    after = collector_ingest.influx_ceiling(influx, "harness_ceiling_after", lines)
    shape = "collector_ingest.py: 4 quantities x 100 readings per message"
    return [
        Entry("collector (harness): readings/s into InfluxDB", rate, "readings/s", (before + after) / 2,
              note=f"{shape}; limit: InfluxDB ceiling, same lines, mean of before/after"),
        Entry("collector (harness): readings/s vs broker", rate, "readings/s", broker_limit,
              note="limit: paho QoS 1 pub/sub, same payloads"),
        Entry("collector (harness): CPU per reading", cpu_us, "us"),
    ]


def run(options: Options, workdir: Path) -> list[Entry]:
    readings = options.ingest_readings
    with broker(workdir) as mqtt, influxdb(workdir) as influx:
        influx.create_database("ceiling")
        influx_limit = influx_ceiling.ceiling(influx.url, "ceiling", readings)
        broker_limit = broker_ceiling.ceiling(mqtt.host, mqtt.port, readings // PER_MESSAGE, PER_MESSAGE)
        time.sleep(1)  # let InfluxDB finish compacting the ceiling's writes before the real run
        rate, cpu_us = _collector_rate(readings, workdir, mqtt, influx)
        harness = _harness(readings, workdir, mqtt, influx)
    return [
        Entry("collector: readings/s into InfluxDB (acked)", rate, "readings/s", influx_limit,
              note="limit: InfluxDB ceiling, raw line protocol, 5,000-point batches"),
        Entry("collector: readings/s vs broker ceiling", rate, "readings/s", broker_limit,
              note="limit: plain paho pub/sub, QoS 1, 50 readings per message"),
        Entry("collector: CPU per reading", cpu_us, "us"),
        Entry("ceiling: InfluxDB raw line protocol", influx_limit, "readings/s", note="12 fields per point"),
        Entry("ceiling: Mosquitto paho pub/sub", broker_limit, "readings/s"),
        *harness,
    ]
