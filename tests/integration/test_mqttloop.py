"""The shared MQTT connection (mqttloop) against a real Mosquitto: what it sets on paho's socket
and paho's client that paho would not set by itself."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from mqttloop.connection import MAX_INFLIGHT, Broker, Connection, Session
from tests.servers import Mosquitto, wait_until_async

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)


class _Up(Session):
    def __init__(self) -> None:
        self.up = False

    def connection_made(self) -> None:
        self.up = True


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
