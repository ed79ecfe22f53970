"""One MQTT 5 connection, kept up, with paho-mqtt v2 run inside the asyncio event loop.

paho does not get a thread of its own: its socket is watched by the loop (`add_reader`, and
`add_writer` while the socket is full) and fed to `loop_read`/`loop_write`; a keeper task
sends keep-alives, notices a lost connection and reconnects after the delay its `Session`
asks for. With paho in its own thread, the two threads fought over the GIL at every
message. Only `connect` runs in a thread, since it blocks on DNS, TCP and the TLS handshake.

The collector's link and the agent's publisher both use it; what differs between them (what
happens on connect and on a message, how long to wait before a retry) is their `Session`.
Publishing is paho's `publish`: it queues the packet, which is written at once (or as soon as
paho's read or write under way returns); no future or task per message. paho keeps QoS 1
messages until their PUBACK, across reconnects too, unless the connection is made with
`fresh=True`, for a caller that re-sends by itself after a reconnect. paho sends at most
MAX_INFLIGHT QoS 1 messages ahead of their PUBACKs, fewer if the broker's CONNACK says so
(Receive Maximum), and queues the rest in order; its queue has no limit
(`max_queued_messages` 0), so it never refuses one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

READS_PER_WAKE = 64
"""Packets read per readable event at most: paho's `loop_read` reads one at a time."""
CLOSE_GRACE_S = 2.0
MAX_INFLIGHT = 20
"""QoS 1 messages paho sends before their PUBACKs (its default), or fewer if the broker says so."""
KEEPER_TICKS_PER_KEEPALIVE = 4
"""The keeper lets paho send a keep-alive or notice a silent broker this often per keep-alive
interval: a ping goes out at most a quarter interval late, well inside the broker's 1.5x.
Not every second: on a gateway polling at 1 Hz that was a wake-up of its own each second,
out of step with the polling (on the 2-core bench VM a wake from idle costs ~300 us of CPU)."""
KEEPER_TICK_MIN_S = 1.0


def keeper_tick_s(keepalive_s: float) -> float:
    """How often the keeper runs paho's keep-alive check for a connection with this keep-alive."""
    return max(KEEPER_TICK_MIN_S, keepalive_s / KEEPER_TICKS_PER_KEEPALIVE)


Delivery = paho.MQTTMessageInfo
"""What `publish` returns: `is_published()` once the broker has acknowledged it (PUBACK)."""


@dataclass(frozen=True, slots=True)
class Tls:
    ca_file: str | None = None
    """CA bundle the broker's certificate must chain to; none: the system's trust store."""
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False
    """Skip the broker host name check (test brokers only)."""


@dataclass(frozen=True, slots=True)
class Broker:
    host: str
    port: int
    client_id: str
    keepalive_s: int
    username: str | None = None
    password: str | None = None
    tls: Tls | None = None


@dataclass(frozen=True, slots=True)
class Will:
    """Published by the broker, retained, QoS 1, if the connection ends without a DISCONNECT."""

    topic: str
    payload: bytes


class Session:
    """What the owner of a connection does at its turns; every method runs on the loop's thread."""

    def connection_made(self) -> None:
        """The broker accepted the connection (CONNACK); subscriptions are on their way."""

    def connection_lost(self) -> None:
        """The connection is gone (or never got its CONNACK)."""

    def message_received(self, topic: str, payload: bytes) -> None:
        """A message arrived on a subscription."""

    def retry_in(self, accepted: bool, lasted_s: float) -> float:
        """Seconds to wait before the next attempt, after one that ended `lasted_s` after it began.

        `accepted`: that connection got its CONNACK (a later loss is a reconnect, not a refusal).
        """
        return 1.0


class Connection:
    def __init__(self, broker: Broker, session: Session, log: logging.Logger, *,
                 subscriptions: Sequence[str] = (), qos: int = 1,
                 will: Callable[[], Will] | None = None, fresh: bool = False) -> None:
        """`will` is built anew before each attempt. `fresh`: whatever paho still holds unsent
        or unacknowledged is dropped before each attempt; the session re-sends what matters."""
        self._broker = broker
        self._keeper_tick_s = keeper_tick_s(broker.keepalive_s)
        self._session = session
        self._log = log
        self._subscriptions = list(subscriptions)
        self._qos = qos
        self._will = will
        self._fresh = fresh
        self._received = 0
        self._paused = False
        self._closing = False
        self._connected = False
        self._accepted = False
        """The current connection got its CONNACK (a later loss is a reconnect, not a refusal)."""
        self._max_inflight = MAX_INFLIGHT
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._fd = -1
        self._in_paho = False
        """In paho's `loop_read`/`loop_write`, where a write must wait until it returns."""
        self._write_after = False
        self._writer = False
        """The loop watches the socket for room to write."""
        self._ready = asyncio.Event()
        self._lost = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=broker.client_id,
                                   protocol=paho.MQTTv5)
        self._configure()

    def _configure(self) -> None:
        client, b = self._client, self._broker
        if b.username is not None:
            client.username_pw_set(b.username, b.password)
        if b.tls is not None:
            client.tls_set(ca_certs=b.tls.ca_file, certfile=b.tls.cert_file, keyfile=b.tls.key_file,
                           cert_reqs=ssl.CERT_REQUIRED)
            client.tls_insecure_set(b.tls.insecure)
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
        return self._broker.host, self._broker.port

    @property
    def connected(self) -> bool:
        return self._connected

    def socket(self) -> Any:
        """paho's socket, or None: for tests that look under the connection."""
        return self._client.socket()

    def start(self) -> None:
        """Connect in the background, and again after every loss, until `stop`."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._keeper = asyncio.create_task(self._keep_connected())

    async def wait_subscribed(self) -> None:
        """Until the broker has confirmed the subscriptions of the current connection."""
        await self._ready.wait()

    async def stop(self) -> None:
        """A clean DISCONNECT (so no will) if connected; then no more attempts."""
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
        self._drop_socket()  # no DISCONNECT got out (no broker): drop the connection ourselves

    def _drop_socket(self) -> None:
        sock = self._client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> Delivery | None:
        """Queue a QoS 1 publish; paho sends it now, or after a reconnect (unless `fresh`).

        None if there was no connection to send it on: paho keeps it for the next one.
        """
        delivery = self._client.publish(topic, payload, qos=1, retain=retain)
        return delivery if delivery.rc == MQTTErrorCode.MQTT_ERR_SUCCESS else None

    def pause_reading(self) -> None:
        """Backpressure: stop reading the socket, so the broker holds what comes next."""
        if not self._paused:
            self._paused = True
            if self._fd >= 0 and self._loop is not None:
                self._loop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            self._watch_reads()

    # --- the connection ---------------------------------------------------------------
    async def _keep_connected(self) -> None:
        while not self._closing:
            self._lost.clear()
            began = time.monotonic()
            self._prepare()
            try:
                # blocking (DNS, TCP, TLS handshake): off the loop
                await asyncio.to_thread(self._client.connect, *self._address,
                                        self._broker.keepalive_s, clean_start=True)
            except (OSError, ssl.SSLError, ValueError) as exc:
                delay = self._session.retry_in(False, time.monotonic() - began)
                self._log.warning("MQTT broker %s:%s unreachable (%s); retrying in %.1f s",
                                  *self._address, exc, delay)
                await asyncio.sleep(delay)
                continue
            self._accepted = False
            await self._serve_connection()
            if self._closing:
                return
            delay = self._session.retry_in(self._accepted, time.monotonic() - began)
            if delay > 0:
                await asyncio.sleep(delay)

    def _prepare(self) -> None:
        """Before an attempt (no connection exists): this attempt's will; paho's queue if fresh."""
        if self._client.max_inflight_messages != self._max_inflight:
            try:
                self._client.max_inflight_messages_set(self._max_inflight)
            except RuntimeError:  # paho still sees the last connection: the next attempt retries
                self._log.warning("MQTT: paho's in-flight limit not lowered yet; retrying")
        if self._fresh:
            self._client.drop_out_messages()
        if self._will is not None:
            will = self._will()
            self._client.will_set(will.topic, will.payload, qos=1, retain=True)

    async def _serve_connection(self) -> None:
        """Keep-alives until the connection is lost."""
        while not self._lost.is_set():
            if self._client.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._keeper_tick_s):
                    await self._lost.wait()

    def _in_loop(self, callback: Any, *args: Any) -> None:
        """Run on the event loop's thread: paho calls the socket hooks from `connect`'s thread too."""
        loop = self._loop
        assert loop is not None
        if threading.get_ident() == self._loop_thread:
            callback(*args)
        else:  # a closed loop: paho's socket, collected after the loop ended, reaches no one
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(callback, *args)

    def _on_socket_open(self, client: paho.Client, _userdata: Any, sock: Any) -> None:
        # paho leaves Nagle on: a small publish then waits for the ACK of the one before, and
        # with the peer's delayed ACK every message round trip took ~40 ms on loopback
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._in_loop(self._adopt_socket, sock.fileno())

    def _adopt_socket(self, fd: int) -> None:
        if self._closing:  # a `connect` that outlived `stop` (its thread cannot be cancelled)
            self._drop_socket()
            return
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
        self._session.connection_lost()

    def _forget_socket(self) -> None:
        if self._fd >= 0 and self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
        self._fd = -1
        self._writer = self._write_after = False

    def _on_socket_register_write(self, client: paho.Client, _userdata: Any, sock: Any) -> None:
        self._in_loop(self._watch_writes, sock.fileno())

    def _watch_writes(self, fd: int) -> None:
        """paho has packets to send: written at once, unless paho is reading or writing now
        (then as soon as it returns); what the socket does not take waits for the writer."""
        if fd < 0 or fd != self._fd:
            return
        if self._in_paho:
            self._write_after = True
        else:
            self._write()

    def _write(self) -> None:
        self._in_paho = True
        try:
            self._client.loop_write()
        finally:
            self._in_paho = False
        if self._client.want_write() and self._fd >= 0 and not self._writer and self._loop is not None:
            self._writer = True  # the socket is full: the rest when it takes more
            self._loop.add_writer(self._fd, self._write)

    def _on_socket_unregister_write(self, client: paho.Client, _userdata: Any, sock: Any) -> None:
        self._in_loop(self._unwatch_writes)

    def _unwatch_writes(self) -> None:
        if self._writer and self._fd >= 0 and self._loop is not None:
            self._loop.remove_writer(self._fd)
        self._writer = False

    def _readable(self) -> None:
        self._in_paho = True
        try:
            self._read()
        finally:
            self._in_paho = False
        if self._write_after:  # PUBACKs, SUBSCRIBEs and publishes made while paho was reading
            self._write_after = False
            self._watch_writes(self._fd)

    def _read(self) -> None:
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
        self._received += 1
        self._session.message_received(topic, bytes(message.payload))

    def _on_connect(
        self, client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, props: Properties | None
    ) -> None:
        if reason.is_failure:
            self._log.error("MQTT broker %s:%s refused the connection: %s", *self._address, reason)
            return
        self._connected = self._accepted = True
        receive_maximum = getattr(props, "ReceiveMaximum", None)
        if isinstance(receive_maximum, int) and receive_maximum < self._max_inflight:
            # paho does not honour the broker's Receive Maximum, and more unacknowledged QoS 1
            # messages than it allows is a protocol error that ends the connection; paho's
            # limit can only change between connections, so: take it, and connect again
            self._max_inflight = max(1, receive_maximum)
            self._log.warning("MQTT broker %s:%s takes at most %d unacknowledged messages; "
                              "connecting again with that limit", *self._address, receive_maximum)
            client.disconnect()
            return
        if self._subscriptions:
            options = SubscribeOptions(qos=self._qos)
            client.subscribe([(sub, options) for sub in self._subscriptions])
        self._log.info("connected to MQTT %s:%s, subscribing to %s", *self._address, self._subscriptions)
        self._session.connection_made()

    def _on_subscribe(
        self, client: paho.Client, _userdata: Any, _mid: int, reasons: list[ReasonCode], _props: Any
    ) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            self._log.error("MQTT broker refused subscriptions %s: %s", self._subscriptions, refused)
        else:
            self._ready.set()

    def _on_disconnect(
        self, client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Properties | None
    ) -> None:
        self._connected = False
        if not self._closing:
            self._log.warning("MQTT connection lost (%s); reconnecting", reason)
