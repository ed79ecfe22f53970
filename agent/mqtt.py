"""The MQTT adapter of the agent (MQTT 5, QoS 1): a `mqttloop` connection, paho in the event loop.

Sends what the outbox holds, oldest first, with at most `window` messages sent but not
yet acknowledged end to end (the collector's `.../ack`, after InfluxDB took them); a
message still unacknowledged after `resend_after` seconds, or at a reconnect, is sent
again. Only acknowledged messages leave the outbox. Retained birth `online` on connect
and a last will `offline` on `.../status`, where health is also published periodically.

A publish is handed to paho, which writes it at once: no future or task per message. The
outbox, not paho, holds what is owed: paho's queue is emptied before every connection
attempt (everything unacknowledged is re-sent from the outbox anyway), and a message is not
sent again while paho still holds its previous copy without the broker's PUBACK, so nothing
piles up in paho. paho sends at most MAX_INFLIGHT QoS 1 messages before their PUBACKs
(fewer if the broker's Receive Maximum says so; mqttloop.connection) and queues the rest of
the window in order. A publish made without a connection is not counted as sent; the cursor
stays, and the outbox keeps it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable

from pydantic import ValidationError

from agent.outbox import Outbox, Stored
from agent.schedule import backoff_s
from config.gateway import Gateway
from config.wire import AckMessage, StatusMessage, TopicKind, topic
from mqttloop.connection import Broker, Connection, Delivery, Session, Tls, Will

log = logging.getLogger("batchmeter.agent.mqtt")

Health = Callable[[], dict[str, float | str]]
LONG_CONNECTION_S = 30.0
"""A connection that lasted longer than this starts the reconnect backoff from the beginning."""
MAX_WAIT_S = 5.0


def _broker(gateway: Gateway) -> Broker:
    settings, tls = gateway.mqtt, gateway.mqtt.tls
    return Broker(
        settings.host, settings.port, f"batchmeter-{gateway.site}-{gateway.gateway}", settings.keepalive,
        settings.username, settings.password,
        None if tls is None else Tls(
            str(tls.ca_file), str(tls.cert_file) if tls.cert_file else None,
            str(tls.key_file) if tls.key_file else None,
        ),
    )


class Publisher(Session):
    def __init__(self, gateway: Gateway, outbox: Outbox, health: Health) -> None:
        self.gateway = gateway
        self.settings = gateway.mqtt
        self.outbox = outbox
        self.health = health
        self.status_topic = topic(gateway.site, gateway.gateway, TopicKind.STATUS)
        self.ack_topic = topic(gateway.site, gateway.gateway, TopicKind.ACK)
        self.inflight: dict[int, float] = {}
        self.cursor = 0
        self.connected = False
        self.counters = {"published": 0, "resent": 0, "acked": 0, "bad_acks": 0, "disconnects": 0}
        self._copies: dict[int, Delivery] = {}
        """The copy of each inflight message that paho was given last."""
        self._acks: deque[bytes] = deque()
        self._birth_due = False
        self._unsent = True
        """The outbox may hold messages past the cursor (new ones, or more than the window took)."""
        self._health_due = 0.0
        self._attempt = 0
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._link = Connection(_broker(gateway), self, log, subscriptions=[self.ack_topic], qos=1,
                                will=self._will, fresh=True)

    def wake(self) -> None:
        """New messages are in the outbox."""
        self._unsent = True
        self._wake.set()

    def stop(self) -> None:
        """End the session and make `run` return, even mid-reconnect."""
        self._stopping.set()
        self._wake.set()

    def _status(self, state: str) -> bytes:
        health = self.health() if state == "online" else {}
        message = StatusMessage(site=self.gateway.site, gateway=self.gateway.gateway, state=state,
                                ts_ms=int(time.time() * 1000), health=health)
        return message.model_dump_json().encode()

    def _will(self) -> Will:
        return Will(self.status_topic, self._status("offline"))

    async def run(self) -> None:
        self._link.start()
        try:
            await self._serve()
        finally:
            await self._link.stop()  # a clean DISCONNECT: no will (`say_offline` follows)

    async def _serve(self) -> None:
        """Take acks, send, re-send and report health, until `stop`."""
        while not self._stopping.is_set():
            self._wake.clear()
            self._take_acks()
            if self.connected:
                self._send()
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands as
            # the event is set, and this loop would then never end
            try:
                async with asyncio.timeout(self._wait_s()):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _wait_s(self) -> float:
        """Until the next re-send or health report is due; without a connection, until woken
        (by the next one), not by re-sends that are overdue but cannot go out."""
        if not self.connected:
            return MAX_WAIT_S
        due = min(sent for sent in self.inflight.values()) + self.settings.resend_after \
            if self.inflight else self._health_due
        wait = min(due, self._health_due) - time.monotonic()
        return min(max(wait, 0.0), MAX_WAIT_S) + 0.001

    def _send(self) -> None:
        now = time.monotonic()
        if self._birth_due or now >= self._health_due:
            self._birth_due = False
            self._health_due = now + self.settings.status_every
            self._link.publish(self.status_topic, self._status("online"), retain=True)
        if not self._resend(now):
            return
        room = self.settings.window - len(self.inflight)
        if room > 0 and self._unsent:
            batch = self.outbox.after(self.cursor, room)
            self._unsent = len(batch) == room
            for stored in batch:
                if not self._publish(stored):
                    self._unsent = True
                    return
                self.cursor = stored.seq
                self.counters["published"] += 1

    def _resend(self, now: float) -> bool:
        """Send again what waited `resend_after` for its ack; False if the connection went."""
        resend_after = self.settings.resend_after
        for seq in sorted(s for s, sent in self.inflight.items() if now - sent >= resend_after):
            if self._held_by_paho(seq):  # the broker has not taken it yet: another copy would queue
                self.inflight[seq] = now
                continue
            stored = self.outbox.get(seq)
            if stored is None:  # acknowledged meanwhile, or dropped by the size cap
                self._forget(seq)
                continue
            if not self._publish(stored):
                return False
            self.counters["resent"] += 1
        return True

    def _held_by_paho(self, seq: int) -> bool:
        copy = self._copies.get(seq)
        try:
            return copy is not None and not copy.is_published()
        except (ValueError, RuntimeError):  # paho gave up on it: send it again
            return False

    def _publish(self, message: Stored) -> bool:
        """Hand one message to paho; False if there is no connection (it stays in the outbox)."""
        copy = self._link.publish(message.topic, message.payload)
        if copy is None:
            return False
        self.inflight[message.seq] = time.monotonic()
        self._copies[message.seq] = copy
        return True

    def _forget(self, seq: int) -> None:
        self.inflight.pop(seq, None)
        self._copies.pop(seq, None)

    def _take_acks(self) -> None:
        while self._acks:
            payload = self._acks.popleft()
            try:
                ack = AckMessage.model_validate_json(payload)
            except (ValidationError, TypeError) as exc:
                self.counters["bad_acks"] += 1
                log.warning("ack on %s refused: %s", self.ack_topic, str(exc)[:200])
                continue
            if ack.gateway != self.gateway.gateway:
                self.counters["bad_acks"] += 1
                continue
            self.counters["acked"] += self.outbox.acknowledge(ack.ranges)
            for first, last in ack.ranges:
                for seq in [s for s in self.inflight if first <= s <= last]:
                    self._forget(seq)

    # --- the connection's turns (on the loop's thread) ------------------------------------
    def connection_made(self) -> None:
        """A new session: everything unacknowledged is sent again, birth first."""
        self.connected = True
        self.inflight.clear()
        self._copies.clear()
        self.cursor = 0
        self._unsent = self._birth_due = True
        self._wake.set()

    def connection_lost(self) -> None:
        self.connected = False

    def message_received(self, topic: str, payload: bytes) -> None:
        self._acks.append(payload)
        self._wake.set()

    def retry_in(self, accepted: bool, lasted_s: float) -> float:
        self.counters["disconnects"] += 1
        self._attempt = 0 if lasted_s > LONG_CONNECTION_S else self._attempt + 1
        # Jitter keeps a fleet of gateways from reconnecting in step after a broker restart.
        return backoff_s(self._attempt, 0.5, 30.0) * random.uniform(0.5, 1.0)

    async def say_offline(self) -> None:
        """A clean stop: the retained status says so, since the broker sends no will then.

        Its own short connection: published once the broker accepts it, then a DISCONNECT,
        which the broker handles after that PUBLISH. The caller bounds the wait.
        """
        up = _Up()
        link = Connection(_broker(self.gateway), up, log)
        link.start()
        try:
            await up.event.wait()
            link.publish(self.status_topic, self._status("offline"), retain=True)
        finally:
            await link.stop()


class _Up(Session):
    def __init__(self) -> None:
        self.event = asyncio.Event()

    def connection_made(self) -> None:
        self.event.set()
