"""The shared MQTT connection (mqttloop) against a real Mosquitto: what it sets on paho's socket
and paho's client that paho would not set by itself."""

from __future__ import annotations

import logging
import socket
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


async def test_an_idle_connection_pings_and_stays_up(mosquitto: Mosquitto) -> None:
    """Nothing to publish: only the keeper's pings show the broker the client is alive.
    (How often the keeper checks is `keeper_tick_s`, tested without a clock in the unit tier.)"""
    session = _Up()
    with TcpProxy(mosquitto.host, mosquitto.port) as proxy:
        connection = await _idle_through(proxy, session)
        try:
            after_connect = proxy.stats.bytes_up
            await wait_until_async(lambda: proxy.stats.bytes_up >= after_connect + 2 * PING_BYTES,
                                   4 * KEEPALIVE_S + 5, "two keep-alive pings")
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
