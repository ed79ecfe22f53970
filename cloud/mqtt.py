"""The collector's MQTT 5 link: a `mqttloop` connection (paho inside the event loop).

paho runs inside the collector's event loop, not in a thread of its own (see
mqttloop/connection.py): with paho in its own thread, the two threads fought over the GIL at
every message and the collector used a third more CPU per reading for the same work.

Received messages go into a bounded inbox; when it is full the socket is no longer read,
so a slow store slows the broker down (TCP backpressure) instead of growing memory. The
session is clean: a replica that dies leaves the shared subscription at once, and whatever
it held unacknowledged is re-sent by its gateway.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

from config.cloud import MqttSettings
from mqttloop.connection import Broker, Connection, Session, Tls

log = logging.getLogger(__name__)
RECONNECT_MIN_S, RECONNECT_MAX_S = 1.0, 30.0


@dataclass(frozen=True, slots=True)
class Inbound:
    topic: str
    payload: bytes
    received_ns: int


def _broker(settings: MqttSettings, client_id: str) -> Broker:
    tls = settings.tls
    return Broker(
        settings.host, settings.port, client_id, settings.keepalive_s, settings.username,
        settings.password.get_secret_value() if settings.password else None,
        None if tls is None else Tls(
            str(tls.ca_file) if tls.ca_file else None, str(tls.cert_file) if tls.cert_file else None,
            str(tls.key_file) if tls.key_file else None, tls.insecure,
        ),
    )


class MqttLink(Session):
    def __init__(
        self, settings: MqttSettings, client_id: str, subscriptions: list[str], queue_size: int
    ) -> None:
        self._inbox: deque[Inbound] = deque()
        self._queue_size = queue_size
        self._woken = asyncio.Event()
        self._delay = RECONNECT_MIN_S
        self._client = Connection(_broker(settings, client_id), self, log,
                                  subscriptions=subscriptions, qos=settings.qos)

    @property
    def depth(self) -> int:
        return len(self._inbox)

    @property
    def connected(self) -> bool:
        return self._client.connected

    async def start(self) -> None:
        """Connect in the background (retrying until the broker answers)."""
        self._client.start()

    async def wait_subscribed(self) -> None:
        """Until the broker has confirmed the subscriptions of the current connection."""
        await self._client.wait_subscribed()

    async def stop(self) -> None:
        await self._client.stop()

    def publish(self, topic: str, payload: bytes) -> None:
        """Queue a QoS 1 publish; paho sends it now, or after a reconnect."""
        self._client.publish(topic, payload)

    async def receive(self, max_items: int, wait_s: float) -> list[Inbound]:
        """Up to `max_items` received messages; waits at most `wait_s` seconds for the first."""
        items = self._drain(max_items)
        if items or wait_s <= 0:
            return items
        try:
            async with asyncio.timeout(wait_s):  # not wait_for: it can swallow a cancel on 3.11
                await self._woken.wait()
        except TimeoutError:
            return []
        return self._drain(max_items)

    def _drain(self, max_items: int) -> list[Inbound]:
        inbox = self._inbox
        items = [inbox.popleft() for _ in range(min(max_items, len(inbox)))]
        if not inbox:
            self._woken.clear()
        if len(inbox) <= self._queue_size // 2:
            self._client.resume_reading()  # if paused
        return items

    # --- the connection's turns (on the loop's thread) ------------------------------------
    def message_received(self, topic: str, payload: bytes) -> None:
        self._inbox.append(Inbound(topic, payload, time.time_ns()))
        self._woken.set()
        if len(self._inbox) >= self._queue_size:
            self._client.pause_reading()  # backpressure: the store is behind

    def retry_in(self, accepted: bool, lasted_s: float) -> float:
        """At once after a connection that was up (the broker may be back); else capped doubling."""
        if accepted:
            self._delay = RECONNECT_MIN_S
            return 0.0
        delay, self._delay = self._delay, min(self._delay * 2, RECONNECT_MAX_S)
        return delay
