"""The agent's MQTT publisher reconnects after every kind of lost connection.

The publisher alone (agent/mqtt.py with a real SQLite outbox) behind the fault proxy, in
front of a real broker: its connection is cut five times, alternately with a FIN and a RST,
each while messages are flowing, and it must come back every time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest

from agent.mqtt import Publisher
from agent.outbox import NewMessage, Outbox
from config.gateway import Gateway
from config.wire import TopicKind, topic
from tests.faults.proxy import TcpProxy
from tests.servers import Mosquitto, wait_until_async

pytestmark = pytest.mark.faults


async def _produce(outbox: Outbox, publisher: Publisher, stop: asyncio.Event) -> None:
    name = topic("s", "g", TopicKind.READINGS)
    while not stop.is_set():
        seq = outbox.next_seqs(1)[0]
        outbox.commit([NewMessage(seq, name, b"x" * 2000, 10, False)], None, int(time.time() * 1000))
        publisher.wake()
        # Pacing the load, not synchronising with anything.
        await asyncio.sleep(0.05)


def _reconnected(publisher: Publisher, proxy: TcpProxy, connections_before: int) -> bool:
    return publisher.connected and proxy.stats.accepted > connections_before


@pytest.fixture
async def proxy(mosquitto: Mosquitto) -> AsyncIterator[TcpProxy]:
    with TcpProxy(mosquitto.host, mosquitto.port) as proxy:
        yield proxy


async def test_publisher_reconnects_after_every_cut(proxy: TcpProxy, tmp_path: Path) -> None:
    gateway = Gateway.model_validate({
        "site": "s", "gateway": "g",
        "mqtt": {"host": proxy.host, "port": proxy.port, "keepalive": 5, "resend_after": 3},
        "connections": {"c": {"type": "tcp", "host": "127.0.0.1"}},
        "devices": [{"id": "d", "connection": "c", "unit": 1, "profile": "sdm630"}],
    })
    outbox = Outbox(tmp_path / "outbox.sqlite", 100_000, 10**9)
    publisher = Publisher(gateway, outbox, dict)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(publisher.run()), asyncio.create_task(_produce(outbox, publisher, stop))]
    try:
        for round_ in range(5):
            await wait_until_async(partial(_reconnected, publisher, proxy, round_), 40,
                                   f"connection {round_ + 1} through the proxy")
            await asyncio.to_thread(proxy.cut, round_ % 2 == 1)
        # the reconnect backoff doubles per quick loss, capped at 30 s (agent/mqtt.py)
        await wait_until_async(partial(_reconnected, publisher, proxy, 5), 40, "the last reconnect")
    finally:
        stop.set()
        publisher.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        outbox.close()
