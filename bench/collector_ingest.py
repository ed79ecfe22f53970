"""Collector ingest rate next to InfluxDB's own ceiling (a benchmark, not a test).

    .venv/bin/python -m bench.collector_ingest [--messages 400] [--readings 100]

Starts its own Mosquitto and InfluxDB on free loopback ports, measures InfluxDB's ceiling
with raw line protocol in 10,000-point batches, then the collector (`batchmeter-cloud run`
as a subprocess) end to end: MQTT publish -> parse -> points -> InfluxDB -> ack.
One reading = one point (one device's values at one time).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import httpx

from tests.integration.collector_harness import CollectorProcess, Gateway, cloud_settings, write_config
from tests.servers import InfluxDB, Mosquitto, wait_until


def influx_ceiling(influx: InfluxDB, points: int, batch: int = 10_000) -> float:
    lines = [f"ceiling,device=m{i % 50},gateway=gw1,site=s1 q0={i}.5,q1=2.0,q2=3.0,q3=4.0 {i}000000"
             for i in range(points)]
    bodies = ["\n".join(lines[i:i + batch]).encode() for i in range(0, points, batch)]
    with httpx.Client(timeout=60) as client:
        started = time.perf_counter()
        for body in bodies:
            response = client.post(f"{influx.url}/write", params={"db": influx.database, "precision": "ns"},
                                   content=body)
            response.raise_for_status()
        return points / (time.perf_counter() - started)


def collector_rate(
    mosquitto: Mosquitto, influx: InfluxDB, workdir: Path, messages: int, readings: int
) -> float:
    config = write_config(workdir / "cloud.yaml", cloud_settings(
        mosquitto.port, influx.url, influx.database, batching={"max_points": 10_000, "max_age_ms": 200},
        validation={"max_payload_bytes": 16 * 1024 * 1024}))
    collector = CollectorProcess(config)
    gateway = Gateway(mosquitto.port)
    try:
        payloads = [gateway.readings(seq, devices=readings, quantities=4).model_dump_json().encode()
                    for seq in range(1, messages + 1)]
        started = time.perf_counter()
        for seq, payload in enumerate(payloads, start=1):
            gateway.publish(seq, payload)
        wait_until(gateway.all_acked, 300, "every message acked", every=0.005)
        return messages * readings / (time.perf_counter() - started)
    finally:
        gateway.close()
        collector.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--readings", type=int, default=100, help="readings per message")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        mosquitto = Mosquitto(Path(tmp) / "mosquitto").start()
        influx = InfluxDB(Path(tmp) / "influxdb").start()
        try:
            ceiling = influx_ceiling(influx, args.messages * args.readings)
            rate = collector_rate(mosquitto, influx, Path(tmp), args.messages, args.readings)
        finally:
            influx.stop()
            mosquitto.stop()
    print(f"InfluxDB ceiling (raw line protocol, 10k batches): {ceiling:,.0f} points/s")
    print(f"collector end to end (MQTT -> InfluxDB -> ack):    {rate:,.0f} readings/s "
          f"({rate / ceiling:.0%} of the ceiling; 4 quantities per reading)")


if __name__ == "__main__":
    main()
