"""The collector's MQTT 5 link (paho-mqtt v2); the only module that imports paho.

paho runs its network loop in its own thread. Received messages go into a bounded queue;
when it is full the paho thread waits, so a slow store slows the broker down instead of
growing memory. The asyncio side is woken with one `call_soon_threadsafe` per burst, not
per message. The session is clean: a replica that dies leaves the shared subscription at
once, and whatever it held unacknowledged is re-sent by its gateway.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from config.cloud import MqttSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Inbound:
    topic: str
    payload: bytes
    received_ns: int


class MqttLink:
    def __init__(
        self, settings: MqttSettings, client_id: str, subscriptions: list[str], queue_size: int
    ) -> None:
        self._settings = settings
        self._subscriptions = subscriptions
        self._queue: queue.Queue[Inbound] = queue.Queue(maxsize=queue_size)
        self._closing = threading.Event()
        self._connected = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = asyncio.Event()
        self._wake_pending = False
        self._woken = asyncio.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        self._configure()

    def _configure(self) -> None:
        client, s = self._client, self._settings
        if s.username is not None:
            client.username_pw_set(s.username, s.password.get_secret_value() if s.password else None)
        if s.tls is not None:
            client.tls_set(
                ca_certs=str(s.tls.ca_file) if s.tls.ca_file else None,
                certfile=str(s.tls.cert_file) if s.tls.cert_file else None,
                keyfile=str(s.tls.key_file) if s.tls.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
            client.tls_insecure_set(s.tls.insecure)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe

    @property
    def _address(self) -> tuple[str, int]:
        return self._settings.host, self._settings.port

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self) -> None:
        """Connect in the background (paho retries until the broker answers)."""
        self._loop = asyncio.get_running_loop()
        self._client.connect_async(
            self._settings.host, self._settings.port, self._settings.keepalive_s, clean_start=True
        )
        self._client.loop_start()

    async def wait_subscribed(self) -> None:
        await self._ready.wait()

    async def stop(self) -> None:
        self._closing.set()
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    def publish(self, topic: str, payload: bytes) -> None:
        """Queue a QoS 1 publish; paho sends it now, or after a reconnect."""
        self._client.publish(topic, payload, qos=1)

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
        items: list[Inbound] = []
        get = self._queue.get_nowait
        try:
            while len(items) < max_items:
                items.append(get())
        except queue.Empty:
            self._woken.clear()
        return items

    # --- paho thread ---------------------------------------------------------------
    def _wake(self) -> None:
        self._wake_pending = False
        self._woken.set()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = repr(message._topic)  # a broker let a non-UTF-8 topic through
        item = Inbound(topic, bytes(message.payload), time.time_ns())
        while not self._closing.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                break
            except queue.Full:
                continue  # backpressure: the store is behind; keep waiting unless closing
        if not self._wake_pending and self._loop is not None:
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._wake)

    def _on_connect(
        self, client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Properties | None
    ) -> None:
        if reason.is_failure:
            log.error("MQTT broker %s:%s refused the connection: %s", *self._address, reason)
            return
        self._connected.set()
        options = SubscribeOptions(qos=self._settings.qos)
        client.subscribe([(sub, options) for sub in self._subscriptions])
        log.info("connected to MQTT %s:%s, subscribing to %s", *self._address, self._subscriptions)

    def _on_subscribe(
        self, client: paho.Client, _userdata: Any, _mid: int, reasons: list[ReasonCode], _props: Any
    ) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            log.error("MQTT broker refused subscriptions %s: %s", self._subscriptions, refused)
        elif self._loop is not None:
            self._loop.call_soon_threadsafe(self._ready.set)

    def _on_disconnect(
        self, client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Properties | None
    ) -> None:
        self._connected.clear()
        if not self._closing.is_set():
            log.warning("MQTT connection lost (%s); reconnecting", reason)
