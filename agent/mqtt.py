"""The MQTT adapter: the only module of the agent that imports aiomqtt/paho (MQTT 5, QoS 1).

Sends what the outbox holds, oldest first, with at most `window` messages sent but not
yet acknowledged end to end (the collector's `.../ack`, after InfluxDB took them); a
message still unacknowledged after `resend_after` seconds, or at a reconnect, is sent
again. Only acknowledged messages leave the outbox. Retained birth `online` on connect
and a last will `offline` on `.../status`, where health is also published periodically.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

import aiomqtt
from pydantic import ValidationError

from agent.outbox import Outbox, Stored
from agent.schedule import backoff_s
from config.gateway import Gateway
from config.wire import AckMessage, StatusMessage, TopicKind, topic

log = logging.getLogger("batchmeter.agent.mqtt")

Health = Callable[[], dict[str, float | str]]
CANCEL_GRACE_S = 5.0


class Publisher:
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
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    def wake(self) -> None:
        """New messages are in the outbox."""
        self._wake.set()

    def _status(self, state: str) -> bytes:
        health = self.health() if state == "online" else {}
        message = StatusMessage(site=self.gateway.site, gateway=self.gateway.gateway, state=state,
                                ts_ms=int(time.time() * 1000), health=health)
        return message.model_dump_json().encode()

    def _client(self) -> aiomqtt.Client:
        tls = self.settings.tls
        params = None if tls is None else aiomqtt.TLSParameters(
            ca_certs=str(tls.ca_file), certfile=str(tls.cert_file) if tls.cert_file else None,
            keyfile=str(tls.key_file) if tls.key_file else None,
        )
        will = aiomqtt.Will(self.status_topic, self._status("offline"), qos=1, retain=True)
        return aiomqtt.Client(
            self.settings.host, self.settings.port, username=self.settings.username,
            password=self.settings.password,
            identifier=f"batchmeter-{self.gateway.site}-{self.gateway.gateway}",
            protocol=aiomqtt.ProtocolVersion.V5, will=will, keepalive=self.settings.keepalive,
            tls_params=params, timeout=10,
        )

    def stop(self) -> None:
        """End the session and make `run` return.

        An explicit signal beside task cancellation, because a cancel that lands while aiomqtt
        tears a connection down can be swallowed on Python 3.11, and publishing must still stop.
        """
        self._stopping.set()

    async def run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            connected_at = time.monotonic()
            await self._session()
            if self._stopping.is_set():
                return
            self.counters["disconnects"] += 1
            attempt = 0 if time.monotonic() - connected_at > 30 else attempt + 1
            # Jitter keeps a fleet of gateways from reconnecting in step after a broker restart.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff_s(attempt, 0.5, 30.0) * random.uniform(0.5, 1.0)):
                    await self._stopping.wait()

    async def _session(self) -> None:
        try:
            async with self._client() as client:
                self.connected = True
                self.inflight.clear()
                self.cursor = 0
                await client.publish(self.status_topic, self._status("online"), qos=1, retain=True)
                await client.subscribe(self.ack_topic, qos=1)
                await self._serve(client)
        except aiomqtt.MqttError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # cancelled while aiomqtt disconnected: its error must not swallow the cancel
                raise asyncio.CancelledError from exc
            log.warning("mqtt %s:%s: %s", self.settings.host, self.settings.port, exc)
        finally:
            self.connected = False

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Send, take acks and report health until one of them fails.

        Not a TaskGroup: on Python 3.11 a child failing while the group waits leaves the
        parent task's cancel count raised, and the next session then dies of a stale
        CancelledError, so a lost broker connection would end publishing for good.
        """
        tasks = [
            asyncio.create_task(self._send(client)),
            asyncio.create_task(self._receive_acks(client)),
            asyncio.create_task(self._report_health(client)),
            asyncio.create_task(self._stopping.wait()),
        ]
        try:
            # the first to end: a failure, or a requested stop (the others run forever)
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            # bounded: after a reset connection, paho's socket callbacks can leave a task that
            # never wakes to its cancel (seen on 3.11); a stop or reconnect must not wait on it
            _, stuck = await asyncio.wait(tasks, timeout=CANCEL_GRACE_S)
            if stuck:
                log.error("mqtt: %d task(s) ignored cancellation; abandoned", len(stuck))
        for task in done:
            if not task.cancelled() and (exc := task.exception()) is not None:
                raise exc

    async def _publish(self, client: aiomqtt.Client, message: Stored) -> None:
        await client.publish(message.topic, message.payload, qos=1, timeout=self.settings.keepalive)
        self.inflight[message.seq] = time.monotonic()

    async def _send(self, client: aiomqtt.Client) -> None:
        resend_after = self.settings.resend_after
        while True:
            self._wake.clear()
            now = time.monotonic()
            for seq in sorted(s for s, sent in self.inflight.items() if now - sent >= resend_after):
                stored = self.outbox.get(seq)
                if stored is None:  # acknowledged meanwhile, or dropped by the size cap
                    self.inflight.pop(seq, None)
                    continue
                await self._publish(client, stored)
                self.counters["resent"] += 1
            room = self.settings.window - len(self.inflight)
            if room > 0:
                for stored in self.outbox.after(self.cursor, room):
                    await self._publish(client, stored)
                    self.cursor = stored.seq
                    self.counters["published"] += 1
            oldest = min(self.inflight.values(), default=None)
            wait = resend_after if oldest is None else max(0.0, oldest + resend_after - time.monotonic())
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands as
            # the event is set, and this loop would then never end
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(wait, 5.0) + 0.001):
                    await self._wake.wait()

    async def _receive_acks(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            try:
                ack = AckMessage.model_validate_json(bytes(message.payload))
            except (ValidationError, TypeError) as exc:
                self.counters["bad_acks"] += 1
                log.warning("ack on %s refused: %s", message.topic, str(exc)[:200])
                continue
            if ack.gateway != self.gateway.gateway:
                self.counters["bad_acks"] += 1
                continue
            self.counters["acked"] += self.outbox.acknowledge(ack.ranges)
            for first, last in ack.ranges:
                for seq in [s for s in self.inflight if first <= s <= last]:
                    del self.inflight[seq]
            self._wake.set()

    async def _report_health(self, client: aiomqtt.Client) -> None:
        while True:
            await asyncio.sleep(self.settings.status_every)
            await client.publish(self.status_topic, self._status("online"), qos=1, retain=True)

    async def say_offline(self) -> None:
        """A clean stop: the retained status says so, since the broker sends no will then."""
        try:
            async with self._client() as client:
                await client.publish(self.status_topic, self._status("offline"), qos=1, retain=True)
        except aiomqtt.MqttError:
            pass
