"""The collector's MQTT 5 link (paho-mqtt v2); the only module that imports paho.

paho runs inside the collector's event loop, not in a thread of its own: its socket is
watched by the loop (`add_reader`/`add_writer`) and fed to `loop_read`/`loop_write`, and a
keeper task sends keep-alives, notices a lost connection and reconnects with capped
backoff. With paho in its own thread, the two threads fought over the GIL at every message
and the collector used a third more CPU per reading for the same work.

Received messages go into a bounded inbox; when it is full the socket is no longer read,
so a slow store slows the broker down (TCP backpressure) instead of growing memory. The
session is clean: a replica that dies leaves the shared subscription at once, and whatever
it held unacknowledged is re-sent by its gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from config.cloud import MqttSettings

log = logging.getLogger(__name__)
READS_PER_WAKE = 64
"""Packets read per readable event at most: paho's `loop_read` reads one at a time."""
RECONNECT_MIN_S, RECONNECT_MAX_S = 1.0, 30.0
CLOSE_GRACE_S = 2.0


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
        self._inbox: deque[Inbound] = deque()
        self._queue_size = queue_size
        self._received = 0
        self._paused = False
        self._closing = False
        self._connected = False
        self._accepted = False
        """The current connection got its CONNACK (a later loss is a reconnect, not a refusal)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._fd = -1
        self._ready = asyncio.Event()
        self._woken = asyncio.Event()
        self._lost = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
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
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write

    @property
    def _address(self) -> tuple[str, int]:
        return self._settings.host, self._settings.port

    @property
    def depth(self) -> int:
        return len(self._inbox)

    @property
    def connected(self) -> bool:
        return self._connected

    async def start(self) -> None:
        """Connect in the background (retrying until the broker answers)."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._keeper = asyncio.create_task(self._keep_connected())

    async def wait_subscribed(self) -> None:
        """Until the broker has confirmed the subscriptions of the current connection."""
        await self._ready.wait()

    async def stop(self) -> None:
        self._closing = True
        if self._connected:
            self._client.disconnect()  # paho closes the socket once DISCONNECT is written
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_GRACE_S):
                    await self._lost.wait()
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        self._forget_socket()
        sock = self._client.socket()
        if sock is not None:  # no DISCONNECT got out (no broker): drop the connection ourselves
            with contextlib.suppress(OSError):
                sock.close()

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
        inbox = self._inbox
        items = [inbox.popleft() for _ in range(min(max_items, len(inbox)))]
        if not inbox:
            self._woken.clear()
        if self._paused and len(inbox) <= self._queue_size // 2:
            self._paused = False
            self._watch_reads()
        return items

    # --- the connection ---------------------------------------------------------------
    async def _keep_connected(self) -> None:
        delay = RECONNECT_MIN_S
        while not self._closing:
            self._lost.clear()
            try:
                # blocking (DNS, TCP, TLS handshake): off the loop
                await asyncio.to_thread(self._client.connect, *self._address,
                                        self._settings.keepalive_s, clean_start=True)
            except (OSError, ssl.SSLError, ValueError) as exc:
                log.warning("MQTT broker %s:%s unreachable (%s); retrying in %.0f s",
                            *self._address, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
                continue
            self._accepted = False
            await self._serve_connection()
            if self._accepted:
                delay = RECONNECT_MIN_S  # it was up: try again at once, the broker may be back
            elif not self._closing:
                await asyncio.sleep(delay)  # refused, or lost before CONNACK: do not hammer
                delay = min(delay * 2, RECONNECT_MAX_S)

    async def _serve_connection(self) -> None:
        """Keep-alives until the connection is lost."""
        while not self._lost.is_set():
            if self._client.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._lost.wait()

    def _in_loop(self, callback: Any, *args: Any) -> None:
        """Run on the event loop's thread: paho calls the socket hooks from `connect`'s thread too."""
        assert self._loop is not None
        if threading.get_ident() == self._loop_thread:
            callback(*args)
        else:
            self._loop.call_soon_threadsafe(callback, *args)

    def _on_socket_open(self, client: paho.Client, _userdata: Any, sock: Any) -> None:
        self._in_loop(self._adopt_socket, sock.fileno())

    def _adopt_socket(self, fd: int) -> None:
        self._fd = fd
        if not self._paused:
            self._watch_reads()

    def _watch_reads(self) -> None:
        if self._fd >= 0 and self._loop is not None:
            self._loop.add_reader(self._fd, self._readable)

    def _on_socket_close(self, client: paho.Client, _userdata: Any, sock: Any) -> None:
        self._in_loop(self._socket_closed)

    def _socket_closed(self) -> None:
        self._forget_socket()
        self._connected = False
        self._ready.clear()  # subscribed again only after the next CONNACK's SUBACK
        self._lost.set()

    def _forget_socket(self) -> None:
        if self._fd >= 0 and self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
        self._fd = -1

    def _on_socket_register_write(self, client: paho.Client, _userdata: Any, sock: Any) -> None:
        self._in_loop(self._watch_writes, sock.fileno())

    def _watch_writes(self, fd: int) -> None:
        if fd >= 0 and fd == self._fd and self._loop is not None:
            self._loop.add_writer(fd, self._client.loop_write)

    def _on_socket_unregister_write(self, client: paho.Client, _userdata: Any, sock: Any) -> None:
        self._in_loop(self._unwatch_writes)

    def _unwatch_writes(self) -> None:
        if self._fd >= 0 and self._loop is not None:
            self._loop.remove_writer(self._fd)

    def _readable(self) -> None:
        client = self._client
        for _ in range(READS_PER_WAKE):
            before = self._received
            if client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS or self._paused:
                return
            sock = client.socket()
            if sock is None:
                return
            # a TLS socket can hold decrypted bytes the OS socket no longer signals
            if self._received == before and not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                return

    # --- paho callbacks (on the loop's thread) ------------------------------------------
    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = repr(message._topic)  # a broker let a non-UTF-8 topic through
        self._inbox.append(Inbound(topic, bytes(message.payload), time.time_ns()))
        self._received += 1
        self._woken.set()
        if len(self._inbox) >= self._queue_size and not self._paused:
            self._paused = True  # backpressure: the store is behind; stop reading the socket
            if self._fd >= 0 and self._loop is not None:
                self._loop.remove_reader(self._fd)

    def _on_connect(
        self, client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Properties | None
    ) -> None:
        if reason.is_failure:
            log.error("MQTT broker %s:%s refused the connection: %s", *self._address, reason)
            return
        self._connected = self._accepted = True
        options = SubscribeOptions(qos=self._settings.qos)
        client.subscribe([(sub, options) for sub in self._subscriptions])
        log.info("connected to MQTT %s:%s, subscribing to %s", *self._address, self._subscriptions)

    def _on_subscribe(
        self, client: paho.Client, _userdata: Any, _mid: int, reasons: list[ReasonCode], _props: Any
    ) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            log.error("MQTT broker refused subscriptions %s: %s", self._subscriptions, refused)
        else:
            self._ready.set()

    def _on_disconnect(
        self, client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Properties | None
    ) -> None:
        self._connected = False
        if not self._closing:
            log.warning("MQTT connection lost (%s); reconnecting", reason)
