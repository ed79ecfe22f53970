"""Helpers for the agent's integration tests: a test acker, the agent in a thread, configs.

The acker stands in for the collector (built in parallel): it records every readings and
events message by seq and acknowledges it on the gateway's `.../ack` topic, unless told
to hold its acks.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from agent.app import Agent
from config.gateway import Gateway, load_gateway
from config.wire import AckMessage, TopicKind, topic

SITE, GATEWAY = "site-t", "gw-t"


class Acker:
    def __init__(
        self, host: str, port: int, ack: bool = True, tls: tuple[Path, Path, Path] | None = None
    ) -> None:
        """`tls`: (CA, client certificate, key), for a broker that wants a client certificate."""
        self.ack = ack
        self.lock = threading.Lock()
        self.messages: dict[int, dict[str, Any]] = {}
        self.raw: dict[int, bytes] = {}
        self.deliveries = 0
        self.status: dict[str, Any] | None = None
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        if tls is not None:
            self.client.tls_set(ca_certs=str(tls[0]), certfile=str(tls[1]), keyfile=str(tls[2]))
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_connect(self, client: paho.Client, *args: Any) -> None:
        for kind in (TopicKind.READINGS, TopicKind.EVENTS, TopicKind.STATUS):
            client.subscribe(topic(SITE, GATEWAY, kind), qos=1)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        data = json.loads(message.payload)
        if message.topic.endswith("/status"):
            self.status = data
            return
        with self.lock:
            seq = int(data["seq"])
            if seq in self.raw:
                assert self.raw[seq] == message.payload, f"seq {seq} re-sent with a different payload"
            self.raw[seq] = bytes(message.payload)
            self.messages[seq] = data
            self.deliveries += 1
        if self.ack:
            self.send_ack([seq])

    def send_ack(self, seqs: list[int]) -> None:
        ack = AckMessage(gateway=GATEWAY, ranges=[(s, s) for s in seqs])
        self.client.publish(topic(SITE, GATEWAY, TopicKind.ACK), ack.model_dump_json(), qos=1)

    def readings(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for m in self.messages.values() for r in m.get("readings", [])]

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [e for m in self.messages.values() for e in m.get("events", [])]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def gateway_dict(broker_port: int, outbox: Path, connections: dict[str, Any],
                 devices: list[dict[str, Any]], **mqtt: Any) -> dict[str, Any]:
    return {
        "site": SITE, "gateway": GATEWAY, "health_port": 0,
        "mqtt": {"host": "127.0.0.1", "port": broker_port, "resend_after": 2.0, **mqtt},
        "outbox": {"path": str(outbox)}, "connections": connections, "devices": devices,
    }


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class AgentThread:
    """The agent in its own thread and event loop, so sync tests can watch it with wait_until."""

    def __init__(self, config_path: Path) -> None:
        gateway, profiles = load_gateway(config_path)
        self.gateway: Gateway = gateway
        self.loop = asyncio.new_event_loop()
        self.agent = Agent(gateway, profiles)
        self._task: asyncio.Task[None] | None = None
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._task = self.loop.create_task(self.agent.run())
        try:
            self.loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # surfaced by the test through .error
            self.error = exc

    def start(self) -> AgentThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._task is not None:
            self.loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(15)

    def __enter__(self) -> AgentThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
