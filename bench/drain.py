"""Backlog drain: an outbox holding `drain_hours` of one 50-device gateway's cycles empties
at how many times real time.

The backlog is written with the agent's own outbox and payload modules (one readings
message per 1 Hz cycle, as the agent stores them), then the agent starts with a live
collector and InfluxDB behind the broker and keeps polling its devices meanwhile, as after
a real outage. Drain time runs from the agent's start to the ack of the last backlog seq.
"""

from __future__ import annotations

import time
from pathlib import Path

from agent.outbox import NewMessage, Outbox
from agent.payload import readings_payload
from agent.poller import Polled
from bench.ackwatch import AckWatch
from bench.cloud_fixture import collector
from bench.edge import agent
from bench.gateway_config import gateway_config
from bench.modbus_fixture import devices
from bench.options import Options
from bench.payloads import values_at
from bench.results import Entry
from bench.services import broker, influxdb
from config.wire import TopicKind, topic
from tests.servers import wait_until

DEVICES = 50
GATEWAY = "drain"
CYCLES_PER_COMMIT = 600
"""Backlog cycles per SQLite transaction while writing it (the agent commits one per cycle)."""


def write_backlog(path: Path, device_ids: list[str], cycles: int, site: str = "bench") -> int:
    """Fill the outbox with `cycles` readings messages ending now; return the last seq."""
    outbox = Outbox(path, max_messages=10_000_000, max_bytes=2**40)
    name = topic(site, GATEWAY, TopicKind.READINGS)
    first_ms = (int(time.time()) - cycles) * 1000
    try:
        for start in range(0, cycles, CYCLES_PER_COMMIT):
            count = min(CYCLES_PER_COMMIT, cycles - start)
            seqs = outbox.next_seqs(count)
            messages = []
            for seq, cycle in zip(seqs, range(start, start + count), strict=True):
                ts = first_ms + cycle * 1000
                polled = [Polled(d, ts, values_at(i, ts // 1000)) for i, d in enumerate(device_ids)]
                body = readings_payload(site, GATEWAY, seq, polled)
                messages.append(NewMessage(seq, name, body, DEVICES, False))
            outbox.commit(messages, None, ts)
        return seqs[-1]
    finally:
        outbox.close()


def run(options: Options, workdir: Path) -> list[Entry]:
    cycles = int(options.drain_hours * 3600)
    with devices(DEVICES, workdir) as ports, broker(workdir) as mqtt, influxdb(workdir) as influx:
        config = gateway_config(GATEWAY, ports, mqtt.port, workdir / f"{GATEWAY}-outbox.sqlite")
        last_seq = write_backlog(Path(config["outbox"]["path"]), [d["id"] for d in config["devices"]], cycles)
        watch = AckWatch(mqtt.host, mqtt.port)
        try:
            with collector(workdir, mqtt.port, influx.url, influx.database):
                began = time.time()
                with agent(GATEWAY, ports, mqtt.port, workdir):
                    backlog = set(range(1, last_seq + 1))
                    wait_until(lambda: backlog <= watch.acked.get(GATEWAY, set()), 1800,
                               f"{last_seq} backlog messages acked", every=0.1)
                    elapsed = time.time() - began
        finally:
            watch.close()
    note = f"{cycles} cycles x {DEVICES} devices ({cycles * DEVICES:,} readings), agent start to last ack"
    return [
        Entry("drain: backlog emptied, x real time", cycles / elapsed, "x", note=note),
        Entry("drain: backlog readings/s", cycles * DEVICES / elapsed, "readings/s"),
    ]
