"""A test gateway speaking wire contract v1: steady readings, an in-memory outbox, re-sends.

It does what the agent does on the wire (per-gateway `seq`, QoS 1, delete on the
collector's ack, re-send what stays unacknowledged) and keeps a record of every message it
built, which is the checker's ground truth for the pure-collector scenarios. Each reading's
values are unique per device (a strictly rising counter), so a re-stamped copy of a read is
recognisable as a duplicate.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from config.wire import AckMessage, Reading, ReadingsMessage, TopicKind, topic


@dataclass(frozen=True)
class Load:
    devices: int = 20
    messages_per_s: float = 10.0
    resend_after_s: float = 2.0

    @property
    def readings_per_s(self) -> float:
        return self.devices * self.messages_per_s


@dataclass
class Credentials:
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None


@dataclass
class _Pending:
    message: ReadingsMessage
    sent_at: float


@dataclass
class WireGateway:
    host: str
    port: int
    site: str = "site1"
    gateway: str = "gwt"
    load: Load = field(default_factory=Load)
    credentials: Credentials = field(default_factory=Credentials)
    clock_offset_ms: int = 0
    record: list[ReadingsMessage] = field(default_factory=list)
    resends: int = 0

    def __post_init__(self) -> None:
        self._seq = 0
        self._counters = [1000.0 * i for i in range(self.load.devices)]
        self._last_ts = [0] * self.load.devices
        self._pending: dict[int, _Pending] = {}
        self._lock = threading.Lock()
        self._producing = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"gateway-{self.gateway}", daemon=True)
        self._client = self._make_client()
        self._rng = random.Random(self.gateway)

    def _make_client(self) -> paho.Client:
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-{self.gateway}", protocol=paho.MQTTv5
        )
        if self.credentials.username:
            client.username_pw_set(self.credentials.username, self.credentials.password)
        if self.credentials.ca_file:
            client.tls_set(ca_certs=self.credentials.ca_file)
        client.reconnect_delay_set(1, 2)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        return client

    # --- life cycle ----------------------------------------------------------------
    def start(self) -> WireGateway:
        self._client.connect_async(self.host, self.port, keepalive=5)
        self._client.loop_start()
        self._producing.set()
        self._thread.start()
        return self

    def stop_producing(self) -> None:
        """Stop making new readings; re-sends go on until everything is acknowledged."""
        self._producing.clear()

    def close(self) -> None:
        self._producing.clear()
        self._stop.set()
        self._thread.join(5)
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def unacknowledged(self) -> int:
        with self._lock:
            return len(self._pending)

    def pending_seqs(self) -> set[tuple[str, int]]:
        with self._lock:
            return {(self.gateway, seq) for seq in self._pending}

    def replay(self, messages: list[ReadingsMessage]) -> None:
        """Publish `messages` again, in the order given, and wait for their acks anew."""
        with self._lock:
            for message in messages:
                self._pending[message.seq] = _Pending(message, time.monotonic())
        for message in messages:
            self._publish(message)

    def step_clock(self, delta_ms: int) -> None:
        self.clock_offset_ms += delta_ms

    # --- the loop ------------------------------------------------------------------
    def _run(self) -> None:
        period = 1.0 / self.load.messages_per_s
        next_at = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if self._producing.is_set() and now >= next_at:
                self._produce()
                next_at += period
            self._resend_due(now)
            # Pacing the load generator, not synchronising with anything.
            self._stop.wait(max(0.0, min(next_at - time.monotonic(), 0.05)))

    def _produce(self) -> None:
        now_ms = int(time.time() * 1000) + self.clock_offset_ms
        readings = []
        for i in range(self.load.devices):
            self._counters[i] += 0.001 + self._rng.random() / 100
            ts = max(now_ms, self._last_ts[i] + 1)
            self._last_ts[i] = ts
            values: dict[str, float | str] = {"energy_kwh": round(self._counters[i], 6),
                                              "power_kw": round(self._rng.uniform(1, 50), 4)}
            readings.append(Reading(device=f"m{i:03d}", ts_ms=ts, values=values))
        self._seq += 1
        message = ReadingsMessage(site=self.site, gateway=self.gateway, seq=self._seq, readings=readings)
        self.record.append(message)
        with self._lock:
            self._pending[message.seq] = _Pending(message, time.monotonic())
        self._publish(message)

    def _publish(self, message: ReadingsMessage) -> None:
        name = topic(self.site, self.gateway, TopicKind.READINGS)
        self._client.publish(name, message.model_dump_json().encode(), qos=1)

    def _resend_due(self, now: float) -> None:
        with self._lock:
            due = [p for p in self._pending.values() if now - p.sent_at >= self.load.resend_after_s]
            for pending in due:
                pending.sent_at = now
        for pending in due:
            self.resends += 1
            self._publish(pending.message)

    # --- paho thread -----------------------------------------------------------------
    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            client.subscribe(topic(self.site, self.gateway, TopicKind.ACK), qos=1)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            ack = AckMessage.model_validate_json(message.payload)
        except ValueError:
            return
        with self._lock:
            for seq in ack.seqs():
                self._pending.pop(seq, None)
