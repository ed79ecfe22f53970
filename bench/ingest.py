"""Collector throughput, MQTT -> InfluxDB with end-to-end acks, beside both of its ceilings.

On one broker and one InfluxDB, in this order: InfluxDB's own ceiling (raw line protocol
in large batches), the broker's ceiling (plain paho publish/subscribe), then the collector
fed flat out by 4 gateways' worth of unique messages. Its rate is readings from the first
publish to the last ack (every one stored before it is acked); its CPU is the collector
process's over that span.

The collector engineer's own harness (bench/collector_ingest.py: 4 quantities per reading,
100 readings per message, its own ceiling with the same point shape) runs after it on the
same servers, as a cross-check with its own ratio.
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
            with child(argv, workdir / "publisher.log", ready="READY", timeout=300) as load:
                cpu_before = sample(cloud.pid).cpu_s
                wait_until(lambda: watch.count() >= messages, 600, f"{messages} messages acked", every=0.1)
                cpu = sample(cloud.pid).cpu_s - cpu_before
                started = float(next(line.split()[1] for line in load.lines if line.startswith("START")))
            elapsed = watch.last_ack - started
    finally:
        watch.close()
    stored = influx.count("reading", "power_w")
    if stored != messages * PER_MESSAGE:
        raise RuntimeError(f"collector stored {stored} readings of {messages * PER_MESSAGE}")
    return stored / elapsed, cpu / stored * 1e6


def _cross_check(readings: int, workdir: Path, mqtt: Mosquitto, influx: InfluxDB) -> tuple[float, float]:
    """(collector readings/s, ceiling points/s) from the collector engineer's harness."""
    influx.create_database("crosscheck")
    influx.database = "crosscheck"
    messages = max(min(readings, 100_000) // 100, 20)  # a cross-check: a ratio, not a long run
    limit = collector_ingest.influx_ceiling(influx, messages * 100)
    return collector_ingest.collector_rate(mqtt, influx, workdir, messages, 100), limit


def run(options: Options, workdir: Path) -> list[Entry]:
    readings = options.ingest_readings
    with broker(workdir) as mqtt, influxdb(workdir) as influx:
        influx.create_database("ceiling")
        influx_limit = influx_ceiling.ceiling(influx.url, "ceiling", readings)
        broker_limit = broker_ceiling.ceiling(mqtt.host, mqtt.port, readings // PER_MESSAGE, PER_MESSAGE)
        time.sleep(1)  # let InfluxDB finish compacting the ceiling's writes before the real run
        rate, cpu_us = _collector_rate(readings, workdir, mqtt, influx)
        cross_rate, cross_limit = _cross_check(readings, workdir, mqtt, influx)
    return [
        Entry("collector: readings/s into InfluxDB (acked)", rate, "readings/s", influx_limit,
              note="limit: InfluxDB ceiling, raw line protocol, 5,000-point batches"),
        Entry("collector: readings/s vs broker ceiling", rate, "readings/s", broker_limit,
              note="limit: plain paho pub/sub, QoS 1, 50 readings per message"),
        Entry("collector: CPU per reading", cpu_us, "us"),
        Entry("ceiling: InfluxDB raw line protocol", influx_limit, "readings/s", note="12 fields per point"),
        Entry("ceiling: Mosquitto paho pub/sub", broker_limit, "readings/s"),
        Entry("collector (collector_ingest.py harness)", cross_rate, "readings/s", cross_limit,
              note="4 quantities per reading; limit: its own InfluxDB ceiling, 10,000-point batches"),
    ]
