"""The agent's own Modbus TCP client against pymodbus's real server (tests/agent_modbus_server.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from agent.modbus import ModbusLink, ReadRefused, ReadTimeout
from config.gateway import TcpConnection
from config.profile import Function
from tests.agent_modbus_server import ModbusTestServer

pytestmark = pytest.mark.integration


@pytest.fixture
def server() -> Iterator[ModbusTestServer]:
    with ModbusTestServer() as running:
        running.unit(1).put("input", 0, [10, 11, 12, 13])
        running.unit(1).put("holding", 100, [7, 8])
        yield running


def link_to(server: ModbusTestServer, timeout: float) -> ModbusLink:
    return ModbusLink(TcpConnection(host=server.host, port=server.port, timeout=timeout, retries=0))


async def discarded(link: ModbusLink, n: int) -> None:
    """Until the link has thrown away `n` replies (polled on the loop, bounded by the caller)."""
    stream = getattr(link.wire, "stream", None)
    while stream is None or stream.discarded < n:
        await asyncio.sleep(0.01)
        stream = getattr(link.wire, "stream", None)


async def test_reads_and_refusals_over_a_real_server(server: ModbusTestServer) -> None:
    server.unit(1).illegal = {50}
    server.unit(2).exception = 4
    link = link_to(server, 2.0)
    try:
        assert await link.read(Function.INPUT, 1, 0, 4) == [10, 11, 12, 13]
        assert await link.read(Function.HOLDING, 1, 100, 2) == [7, 8]
        with pytest.raises(ReadRefused) as illegal:
            await link.read(Function.HOLDING, 1, 49, 3)
        assert illegal.value.reason == "exception:2"
        with pytest.raises(ReadRefused) as failure:
            await link.read(Function.INPUT, 2, 0, 1)
        assert failure.value.reason == "exception:4"
        assert await link.read(Function.INPUT, 1, 2, 2) == [12, 13], "the link survives refusals"
    finally:
        link.close()


async def test_a_server_answering_late_never_answers_the_next_request(server: ModbusTestServer) -> None:
    server.unit(3).delay = 0.5
    server.unit(3).put("input", 0, [1, 2])
    link = link_to(server, 0.1)
    try:
        with pytest.raises(ReadTimeout):
            await link.read(Function.INPUT, 3, 0, 2)  # answered after its timeout
        # A different count: had the late two-register reply been taken, this would fail short.
        assert await link.read(Function.INPUT, 1, 0, 4) == [10, 11, 12, 13]
        await asyncio.wait_for(discarded(link, 1), 10)
        assert await link.read(Function.INPUT, 1, 1, 3) == [11, 12, 13]
        assert link.connected
    finally:
        link.close()


async def test_a_dead_unit_times_out_and_its_neighbours_still_answer(server: ModbusTestServer) -> None:
    server.unit(9).dead = True
    link = link_to(server, 0.1)
    try:
        with pytest.raises(ReadTimeout):
            await link.read(Function.INPUT, 9, 0, 2)
        assert await link.read(Function.INPUT, 1, 0, 2) == [10, 11]
    finally:
        link.close()
