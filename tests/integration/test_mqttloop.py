"""The shared MQTT connection (mqttloop) against a real Mosquitto: what it sets on paho's socket
and paho's client that paho would not set by itself."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path

import pytest

from mqttloop.connection import MAX_INFLIGHT, Broker, Connection, Session
from tests.faults.proxy import Mode, TcpProxy
from tests.servers import Mosquitto, wait_until_async

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)


class _Up(Session):
    def __init__(self) -> None:
        self.up = False
        self.losses = 0

    def connection_made(self) -> None:
        self.up = True

    def connection_lost(self) -> None:
        self.losses += 1


async def _connected(server: Mosquitto) -> Connection:
    session = _Up()
    connection = Connection(Broker(server.host, server.port, "probe", 30), session, log)
    connection.start()
    await wait_until_async(lambda: session.up, 10, "a CONNACK")
    return connection


@pytest.mark.parametrize(("receive_maximum", "expected"), [(5, 5), (None, MAX_INFLIGHT)])
async def test_paho_sends_no_more_unacknowledged_messages_than_the_broker_receives(
    tmp_path: Path, receive_maximum: int | None, expected: int
) -> None:
    # Mosquitto announces its max_inflight_messages as Receive Maximum in the CONNACK (65535
    # unless set); paho would keep its own default of 20 and break a stricter broker's limit.
    # The session sees one connection, made with the broker's limit.
    extra = f"max_inflight_messages {receive_maximum}\n" if receive_maximum else ""
    server = Mosquitto(tmp_path / "broker", extra_config=extra).start()
    try:
        connection = await _connected(server)
        try:
            assert connection._client.max_inflight_messages == expected  # paho's own limit
        finally:
            await connection.stop()
    finally:
        server.stop()


async def test_small_messages_are_not_held_back_by_nagle(mosquitto: Mosquitto) -> None:
    connection = await _connected(mosquitto)
    try:
        sock = connection.socket()
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        await connection.stop()


PING_BYTES = 2  # PINGREQ: fixed header only
KEEPALIVE_S = 4  # paho pings after 4 s without traffic; a broker may drop the client after 6 s


async def _idle_through(proxy: TcpProxy, session: _Up) -> Connection:
    connection = Connection(Broker(proxy.host, proxy.port, "idle", KEEPALIVE_S), session, log)
    connection.start()
    await wait_until_async(lambda: session.up, 10, "a CONNACK")
    return connection


async def _times_of_traffic(proxy: TcpProxy, count: int, deadline_s: float) -> list[float]:
    """When the client's next `count` sends reached the proxy (polled every 50 ms)."""
    seen, times = proxy.stats.bytes_up, list[float]()
    deadline = time.monotonic() + deadline_s
    while len(times) < count:
        assert time.monotonic() < deadline, f"{len(times)} of {count} keep-alive pings seen"
        if proxy.stats.bytes_up > seen:
            seen = proxy.stats.bytes_up
            times.append(time.monotonic())
        await asyncio.sleep(0.05)
    return times


async def test_an_idle_connection_pings_in_time_and_stays_up(mosquitto: Mosquitto) -> None:
    """Nothing to publish: only the keeper's pings show the broker the client is alive, and
    each must come before the broker's limit, 1.5 keep-alive intervals after the last one."""
    session = _Up()
    with TcpProxy(mosquitto.host, mosquitto.port) as proxy:
        connection = await _idle_through(proxy, session)
        try:
            connected = time.monotonic()
            pings = await _times_of_traffic(proxy, 2, 4 * KEEPALIVE_S + 5)
            gaps = [b - a for a, b in zip([connected, *pings], pings, strict=False)]
            assert max(gaps) < 1.5 * KEEPALIVE_S, gaps
            assert session.losses == 0
            assert proxy.stats.accepted == 1  # never dropped and reconnected meanwhile
        finally:
            await connection.stop()


async def test_a_silent_broker_is_noticed(mosquitto: Mosquitto) -> None:
    """A stalled path (nothing forwarded, nothing closed): the unanswered ping ends the session."""
    session = _Up()
    with TcpProxy(mosquitto.host, mosquitto.port) as proxy:
        connection = await _idle_through(proxy, session)
        try:
            proxy.set_mode(Mode.STALL)
            await wait_until_async(lambda: session.losses > 0, 4 * KEEPALIVE_S + 5, "the silence noticed")
        finally:
            await connection.stop()
