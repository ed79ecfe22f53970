"""The collector's MQTT link (paho inside the event loop) against a real Mosquitto."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud.mqtt import MqttLink
from config.cloud import MqttSettings
from tests.servers import Mosquitto

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


async def until(predicate: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)  # polling interval of a condition wait


async def test_a_full_inbox_stops_reading_and_nothing_is_lost(mosquitto: Mosquitto) -> None:
    settings = MqttSettings(host=mosquitto.host, port=mosquitto.port)
    link = MqttLink(settings, "collector-test", [f"$share/g/{TOPIC}"], queue_size=10)
    await link.start()
    try:
        async with asyncio.timeout(10):
            await link.wait_subscribed()
        await asyncio.to_thread(publish, mosquitto, 100)
        await until(lambda: link.depth >= 10, 10, "the inbox to fill")
        await asyncio.sleep(0.3)  # not a wait for a condition: the window an unpaused link would read in
        assert link.depth == 10, "the socket is not read while the inbox is full"
        received: list[bytes] = []
        while len(received) < 100:
            received += [m.payload for m in await link.receive(7, wait_s=5)]
        assert received == [f"m{n}".encode() for n in range(100)]
    finally:
        await link.stop()


async def test_the_link_comes_back_after_the_broker_restarts(mosquitto: Mosquitto) -> None:
    settings = MqttSettings(host=mosquitto.host, port=mosquitto.port)
    link = MqttLink(settings, "collector-test", [f"$share/g/{TOPIC}"], queue_size=100)
    await link.start()
    try:
        async with asyncio.timeout(10):
            await link.wait_subscribed()
        await asyncio.to_thread(mosquitto.stop)
        await until(lambda: not link.connected, 10, "the link to notice the broker is gone")
        await asyncio.to_thread(mosquitto.start)
        async with asyncio.timeout(20):
            await link.wait_subscribed()  # cleared when the connection was lost
        await asyncio.to_thread(publish, mosquitto, 3)
        received: list[bytes] = []
        while len(received) < 3:
            received += [m.payload for m in await link.receive(10, wait_s=5)]
        assert received == [b"m0", b"m1", b"m2"]
    finally:
        await link.stop()
