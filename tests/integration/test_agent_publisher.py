"""The agent's publisher (agent/mqtt.py) and what it leaves in paho, against a real Mosquitto.

paho keeps every QoS 1 message until its PUBACK and sends it again after a reconnect by
itself. The publisher re-sends everything unacknowledged from the outbox after a reconnect,
so paho must hold no copies of its own across one, and must not be handed a second copy of
a message it still holds: the acker counts every delivery, so a copy too many shows.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from agent.mqtt import Publisher
from agent.outbox import NewMessage, Outbox
from config.gateway import Gateway
from config.wire import TopicKind, topic
from tests.agent_harness import GATEWAY, SITE, Acker
from tests.faults.proxy import Mode, TcpProxy
from tests.servers import Mosquitto, wait_until_async

pytestmark = pytest.mark.integration
RESEND_AFTER_S = 2.0


def _gateway(port: int, **mqtt: object) -> Gateway:
    return Gateway.model_validate({
        "site": SITE, "gateway": GATEWAY,
        "mqtt": {"host": "127.0.0.1", "port": port, "resend_after": RESEND_AFTER_S, **mqtt},
        "connections": {"c": {"type": "tcp", "host": "127.0.0.1"}},
        "devices": [{"id": "d", "connection": "c", "unit": 1, "profile": "sdm630"}],
    })


def _commit(outbox: Outbox, publisher: Publisher, count: int) -> list[int]:
    """`count` messages in one transaction, as a poll cycle stores them; their seqs."""
    name = topic(SITE, GATEWAY, TopicKind.READINGS)
    seqs = outbox.next_seqs(count)
    outbox.commit([NewMessage(seq, name, json.dumps({"seq": seq}).encode(), 1, False) for seq in seqs],
                  None, int(time.time() * 1000))
    publisher.wake()
    return seqs


@asynccontextmanager
async def _running(publisher: Publisher) -> AsyncIterator[None]:
    task = asyncio.create_task(publisher.run())
    try:
        yield
    finally:
        publisher.stop()
        async with asyncio.timeout(5):
            await task


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.sqlite", 10_000, 10**8)
    yield box
    box.close()


@pytest.fixture
def acker(mosquitto: Mosquitto) -> Iterator[Acker]:
    acker = Acker(mosquitto.host, mosquitto.port, ack=False)
    yield acker
    acker.close()


async def test_paho_holds_one_copy_while_stalled_and_none_across_a_reconnect(
    mosquitto: Mosquitto, acker: Acker, outbox: Outbox
) -> None:
    with TcpProxy(mosquitto.host, mosquitto.port) as proxy:
        publisher = Publisher(_gateway(proxy.port, keepalive=60), outbox, dict)
        async with _running(publisher):
            seqs = _commit(outbox, publisher, 5)
            await wait_until_async(lambda: len(acker.messages) == 5, 20, "the first five delivered")

            # The broker takes nothing now and no PUBACK comes back: paho holds what it is given.
            await asyncio.to_thread(proxy.set_mode, Mode.STALL)
            stalled_at, resent_before = time.monotonic(), publisher.counters["resent"]
            seqs += _commit(outbox, publisher, 5)
            await wait_until_async(lambda: publisher.counters["published"] == 10, 10, "five more sent")
            await wait_until_async(lambda: min(publisher.inflight.values()) > stalled_at + 3 * RESEND_AFTER_S,
                                   30, "every message due for a re-send three times over")
            # Only the first five, PUBACKed before the stall, are sent again, once: a message is
            # not handed to paho again while paho still holds a copy the broker did not take.
            assert publisher.counters["resent"] - resent_before <= 5

            # Cut while paho holds copies the broker never acknowledged; then let traffic
            # through. After the reconnect each message must reach the broker exactly once.
            delivered_before = acker.deliveries
            acker.ack = True
            await asyncio.to_thread(proxy.cut, True)
            await asyncio.to_thread(proxy.set_mode, Mode.PASS)
            await wait_until_async(lambda: outbox.depth == 0, 30, "all acknowledged after the reconnect")
            assert sorted(acker.messages) == seqs
            assert publisher.counters["disconnects"] >= 1
            assert acker.deliveries - delivered_before == 10, "paho re-sent copies of its own"


async def test_what_is_stored_while_the_broker_is_away_is_sent_when_it_is_back(
    mosquitto: Mosquitto, acker: Acker, outbox: Outbox
) -> None:
    publisher = Publisher(_gateway(mosquitto.port, resend_after=0.2), outbox, dict)
    turns = 0
    wait_s = publisher._wait_s

    def counted() -> float:  # the test looks under the publisher: how often its loop turns
        nonlocal turns
        turns += 1
        return wait_s()

    publisher._wait_s = counted  # type: ignore[method-assign]
    async with _running(publisher):
        seqs = _commit(outbox, publisher, 3)
        await wait_until_async(lambda: len(acker.messages) == 3, 20, "the first three delivered")

        await asyncio.to_thread(mosquitto.stop)
        await wait_until_async(lambda: not publisher.connected, 10, "the publisher to notice")
        seqs += _commit(outbox, publisher, 3)
        # Two more attempts while the three unacknowledged are overdue for a re-send that
        # cannot go out: the publisher waits for a connection, it does not poll.
        attempts, turns = publisher.counters["disconnects"], 0
        await wait_until_async(lambda: publisher.counters["disconnects"] >= attempts + 2, 20,
                               "two reconnect attempts")
        assert turns < 10, f"{turns} turns of the send loop without a connection"
        assert publisher.counters["published"] == 3, "nothing counts as sent without a connection"

        acker.ack = True
        await asyncio.to_thread(mosquitto.start)
        await wait_until_async(lambda: outbox.depth == 0, 30, "all six acknowledged")
        assert sorted(acker.messages) == seqs
        assert publisher.counters["acked"] == 6


async def test_stop_ends_run_promptly_while_a_broker_never_answers(outbox: Outbox) -> None:
    with socket.socket() as silent:  # takes the TCP connection, never sends a CONNACK
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent.settimeout(10)
        publisher = Publisher(_gateway(silent.getsockname()[1]), outbox, dict)
        task = asyncio.create_task(publisher.run())
        conn, _ = await asyncio.to_thread(silent.accept)
        with conn:
            publisher.stop()
            async with asyncio.timeout(3):
                await task
        assert not publisher.connected
