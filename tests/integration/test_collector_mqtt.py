"""The collector's MQTT link (paho inside the event loop) against a real Mosquitto."""

from __future__ import annotations

import asyncio
import fcntl
import termios
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud.mqtt import MqttLink
from config.cloud import MqttSettings
from tests.servers import Mosquitto, wait_until_async

pytestmark = pytest.mark.integration
TOPIC = "batchmeter/v1/s1/gw1/readings"


def publish(mosquitto: Mosquitto, count: int) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        infos = [client.publish(TOPIC, f"m{n}".encode(), qos=1) for n in range(count)]
        for info in infos:
            info.wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


@asynccontextmanager
async def subscribed_link(mosquitto: Mosquitto, queue_size: int) -> AsyncIterator[MqttLink]:
    settings = MqttSettings(host=mosquitto.host, port=mosquitto.port)
    link = MqttLink(settings, "collector-test", [f"$share/g/{TOPIC}"], queue_size=queue_size)
    await link.start()
    try:
        async with asyncio.timeout(10):
            await link.wait_subscribed()
        yield link
    finally:
        await link.stop()


def unread_bytes(link: MqttLink) -> int:
    """Bytes the kernel holds for the link's socket (FIONREAD): received, not yet read."""
    sock = link._client.socket()  # the test looks under the link: that nothing is read is the point
    if sock is None:
        return 0
    return int.from_bytes(fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"), "little")


async def receive_all(link: MqttLink, count: int) -> list[bytes]:
    received: list[bytes] = []
    while len(received) < count:
        received += [m.payload for m in await link.receive(7, wait_s=5)]
    return received


async def test_a_full_inbox_stops_reading_and_nothing_is_lost(mosquitto: Mosquitto) -> None:
    async with subscribed_link(mosquitto, queue_size=10) as link:
        await asyncio.to_thread(publish, mosquitto, 100)
        # the broker has taken all 100; what did not fit must wait, unread, in the socket
        await wait_until_async(lambda: unread_bytes(link) > 0, 10, "messages waiting unread in the socket")
        assert link.depth == 10, "the socket is not read while the inbox is full"
        assert await receive_all(link, 100) == [f"m{n}".encode() for n in range(100)]


async def test_the_link_comes_back_after_the_broker_restarts(mosquitto: Mosquitto) -> None:
    async with subscribed_link(mosquitto, queue_size=100) as link:
        await asyncio.to_thread(mosquitto.stop)
        await wait_until_async(lambda: not link.connected, 10, "the link to notice the broker is gone")
        await asyncio.to_thread(mosquitto.start)
        async with asyncio.timeout(20):
            await link.wait_subscribed()  # cleared when the connection was lost
        await asyncio.to_thread(publish, mosquitto, 3)
        assert await receive_all(link, 3) == [b"m0", b"m1", b"m2"]
