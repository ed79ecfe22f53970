"""Test helpers for the collector: configs, an in-process or subprocess collector, a gateway stub.

The gateway stub speaks the wire contract with paho (as the agent would): it publishes
messages, listens on its ack topic, and can re-send whatever is still unacknowledged.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from cloud.metrics import Metrics
from cloud.run import run_collector
from config.cloud import CloudConfig
from config.wire import AckMessage, Reading, ReadingsMessage, TopicKind, topic
from tests.servers import wait_until

BASE_MS = 1_700_000_000_000


def cloud_settings(
    broker_port: int, influx_url: str, database: str, **sections: dict[str, object]
) -> dict[str, object]:
    data: dict[str, object] = {
        "mqtt": {
            "host": "127.0.0.1",
            "port": broker_port,
            "client_id": "collector-{pid}-" + os.urandom(3).hex(),
        },
        "influx": {"url": influx_url, "database": database, "timeout_s": 5},
        "batching": {"max_points": 5000, "max_age_ms": 50, "retry_initial_ms": 50, "retry_max_ms": 500},
        "validation": {"max_past_ms": 10 * 365 * 86_400_000, "max_payload_bytes": 65536},
        "metrics": {"port": 0},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}  # type: ignore[dict-item]
    return data


def write_config(path: Path, data: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


class CollectorThread:
    """The collector running in-process, in a thread with its own event loop."""

    def __init__(self, config: CloudConfig) -> None:
        self.metrics = Metrics()
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._config = config
        self.error: BaseException | None = None

    def _main(self) -> None:
        try:
            self._loop.run_until_complete(
                run_collector(self._config, self._stop, self.metrics, self._ready.set)
            )
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> CollectorThread:
        self._thread.start()
        wait_until(lambda: self._ready.is_set() or self.error, 15, "the collector to subscribe")
        assert self.error is None, self.error
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "collector did not stop"

    def count(self, name: str) -> float:
        return self.metrics.total("batchmeter_collector_" + name)


class CollectorProcess:
    """`batchmeter-cloud run` as a subprocess (to SIGKILL it)."""

    def __init__(self, config_path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cloud", "run", "--config", str(config_path), "--log-level", "WARNING"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.metrics_port = 0
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("METRICS "):
                self.metrics_port = int(line.split()[1])
            if line.strip() == "READY":
                return
        raise RuntimeError(f"collector exited with {self.proc.wait()} before READY")

    def metric(self, name: str) -> float:
        import httpx

        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("batchmeter_collector_" + name)
        )

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


@dataclass
class Gateway:
    """A gateway stub: publishes wire messages and collects the acks it receives."""

    broker_port: int
    site: str = "s1"
    gateway: str = "gw1"
    sent: dict[int, tuple[str, bytes]] = field(default_factory=dict)
    acked: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self.client.on_message = self._on_ack
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(1000)
        self.client.connect("127.0.0.1", self.broker_port)
        self.client.subscribe(topic(self.site, self.gateway, TopicKind.ACK), qos=1)
        self.client.loop_start()
        wait_until(self._subscribed.is_set, 10, "gateway stub to subscribe to its ack topic")

    def _on_ack(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        ack = AckMessage.model_validate_json(message.payload)
        with self._lock:
            self.acked.update(ack.seqs())

    def readings(self, seq: int, devices: int = 3, quantities: int = 4) -> ReadingsMessage:
        return ReadingsMessage(
            site=self.site,
            gateway=self.gateway,
            seq=seq,
            readings=[
                Reading(
                    device=f"m{d}",
                    ts_ms=BASE_MS + seq * 1000,
                    values={f"q{q}": seq * 1000.0 + d * 10 + q + 0.25 for q in range(quantities)},
                )
                for d in range(devices)
            ],
        )

    def publish(self, seq: int, payload: bytes, kind: TopicKind = TopicKind.READINGS) -> None:
        name = topic(self.site, self.gateway, kind)
        self.sent[seq] = (name, payload)
        self.client.publish(name, payload, qos=1).wait_for_publish(10)

    def publish_raw(self, name: str, payload: bytes) -> None:
        self.client.publish(name, payload, qos=1).wait_for_publish(10)

    def resend_unacked(self) -> int:
        with self._lock:
            missing = sorted(set(self.sent) - self.acked)
        for seq in missing:
            self.publish_raw(*self.sent[seq])
        return len(missing)

    def all_acked(self) -> bool:
        with self._lock:
            return set(self.sent) <= self.acked

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
