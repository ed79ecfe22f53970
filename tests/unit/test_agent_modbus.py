"""The MBAP (Modbus TCP) client: transaction ids, exceptions, bad frames, timeouts.

A scripted device on a loopback socket answers each request through a function of the
requests seen so far, so every ordering (late replies, wrong ids, garbage) is exact.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from agent.modbus import LinkDown, MbapClient, ReadFailed, ReadRefused, ReadTimeout, _MbapStream
from config.profile import Function

Request = tuple[int, int, int, int, int]  # tid, unit, function, address, count
Script = Callable[[list[Request]], list[bytes]]
"""All requests so far -> the bytes to write now (any number of frames, or none)."""


def frame(tid: int, pdu: bytes, unit: int = 1, protocol: int = 0) -> bytes:
    return struct.pack(">HHHB", tid, protocol, len(pdu) + 1, unit) + pdu


def registers(code: int, words: list[int]) -> bytes:
    return struct.pack(f">BB{len(words)}H", code, 2 * len(words), *words)


def answer(request: Request, base: int = 0) -> bytes:
    """The honest reply: register n holds base + n."""
    tid, unit, code, address, count = request
    return frame(tid, registers(code, [base + address + i for i in range(count)]), unit)


@asynccontextmanager
async def device(script: Script, wait_s: float = 2.0) -> AsyncIterator[MbapClient]:
    requests: list[Request] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readexactly(12)
                tid, _, _, unit, code, address, count = struct.unpack(">HHHBBHH", header)
                requests.append((tid, unit, code, address, count))
                writer.write(b"".join(script(requests)))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = MbapClient("127.0.0.1", port, wait_s)
    await client.connect()
    try:
        yield client
    finally:
        client.close()
        server.close()


async def test_reads_registers_and_bits() -> None:
    def script(requests: list[Request]) -> list[bytes]:
        tid, unit, code, _, _ = requests[-1]
        if code == 1:
            return [frame(tid, bytes([1, 2, 0b101, 0b1]), unit)]
        return [answer(requests[-1])]

    async with device(script) as client:
        assert await client.read(Function.INPUT, 1, 10, 3) == [10, 11, 12]
        assert await client.read(Function.HOLDING, 7, 0, 2) == [0, 1]
        assert await client.read(Function.COIL, 1, 0, 9) == [1, 0, 1, 0, 0, 0, 0, 0, 1]


async def test_a_reply_with_another_transaction_id_is_discarded() -> None:
    def script(requests: list[Request]) -> list[bytes]:
        tid = requests[-1][0]
        return [frame((tid + 100) & 0xFFFF, registers(4, [9999, 9999])), answer(requests[-1])]

    async with device(script) as client:
        assert await client.read(Function.INPUT, 1, 0, 2) == [0, 1]
        assert client.stream is not None
        assert client.stream.discarded == 1


async def test_a_late_reply_is_never_the_answer_to_the_next_request() -> None:
    def script(requests: list[Request]) -> list[bytes]:
        if len(requests) == 1:
            return []  # the first request is answered only after it has timed out
        return [answer(requests[0], base=5000), answer(requests[1])]

    async with device(script, wait_s=0.05) as client:
        with pytest.raises(ReadTimeout):
            await client.read(Function.INPUT, 1, 0, 2)
        client.timeout = 5.0
        assert await client.read(Function.INPUT, 1, 0, 2) == [0, 1]
        assert client.stream is not None
        assert client.stream.discarded == 1
        assert client.connected


async def test_exception_response_is_refused_with_its_code() -> None:
    def script(requests: list[Request]) -> list[bytes]:
        tid, unit, code, _, _ = requests[-1]
        return [frame(tid, bytes([code | 0x80, 2]), unit)]

    async with device(script) as client:
        with pytest.raises(ReadRefused) as refused:
            await client.read(Function.INPUT, 1, 0, 2)
    assert refused.value.code == 2
    assert refused.value.reason == "exception:2"


@pytest.mark.parametrize("pdu", [
    registers(4, [1]),  # one register for two asked
    bytes([4, 4, 0, 1]),  # byte count says 4, two bytes follow
    bytes([3, 4, 0, 1, 0, 2]),  # another function's reply
])
async def test_short_or_mismatched_replies_fail_the_read(pdu: bytes) -> None:
    async with device(lambda requests: [frame(requests[-1][0], pdu)]) as client:
        with pytest.raises(ReadFailed) as failed:
            await client.read(Function.INPUT, 1, 0, 2)
        assert type(failed.value) is ReadFailed
        assert client.connected, "a well-framed bad reply leaves the stream usable"


@pytest.mark.parametrize("garbage", [
    frame(1, registers(4, [0, 1]), protocol=7),  # not Modbus
    b"\x00\x01\x00\x00\x00\x00\x01\x04",  # length 0
    b"\x00\x01\x00\x00\xff\xff" + b"\x00" * 8,  # length beyond any MBAP frame
])
async def test_garbage_drops_the_connection(garbage: bytes) -> None:
    async with device(lambda requests: [garbage]) as client:
        with pytest.raises(LinkDown):
            await client.read(Function.INPUT, 1, 0, 2)
        assert not client.connected


async def test_no_reply_times_out_and_the_connection_stays() -> None:
    async with device(lambda requests: [], wait_s=0.05) as client:
        with pytest.raises(ReadTimeout):
            await client.read(Function.INPUT, 1, 0, 2)
        assert client.connected


async def test_the_peer_closing_mid_request_is_a_lost_link() -> None:
    def script(requests: list[Request]) -> list[bytes]:
        raise ConnectionResetError  # the device's end closes without answering

    async with device(script) as client:
        with pytest.raises(LinkDown):
            await client.read(Function.INPUT, 1, 0, 2)
        assert not client.connected


async def test_a_frame_split_across_segments_is_reassembled() -> None:
    stream = _MbapStream()
    waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    stream.tid, stream.waiter = 7, waiter
    late, reply = frame(6, registers(4, [5])), frame(7, registers(4, [1, 2]))
    data = late + reply
    cuts = [0, 3, 9, len(late) + 4, len(data)]
    for start, end in itertools.pairwise(cuts[:-1]):
        stream.data_received(data[start:end])
        assert not waiter.done()
    stream.data_received(data[cuts[-2] :])
    assert waiter.result() == registers(4, [1, 2])
    assert stream.discarded == 1
    assert stream.buffer == b""


async def test_connect_to_a_closed_port_is_a_lost_link() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(LinkDown):
        await MbapClient("127.0.0.1", port, 0.5).connect()


async def test_requests_of_one_tick_time_out_on_a_shared_timer_each_with_its_own_error() -> None:
    async with device(lambda requests: [], wait_s=0.05) as first, \
            device(lambda requests: [], wait_s=0.05) as second:
        loop = asyncio.get_running_loop()
        timers_before = len(loop._scheduled)  # type: ignore[attr-defined]
        reads = [asyncio.create_task(c.read(Function.INPUT, 1, 0, 2)) for c in (first, second)]
        await asyncio.sleep(0)  # both requests are out
        assert len(loop._scheduled) - timers_before <= 2  # type: ignore[attr-defined]
        results = await asyncio.gather(*reads, return_exceptions=True)
        assert all(isinstance(r, ReadTimeout) for r in results)
        assert first.connected
        assert second.connected


async def test_a_second_request_while_one_is_in_flight_is_refused() -> None:
    async with device(lambda requests: [], wait_s=0.2) as client:
        pending = asyncio.create_task(client.read(Function.INPUT, 1, 0, 2))
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="already in flight"):
            await client.read(Function.INPUT, 1, 0, 2)
        with pytest.raises(ReadTimeout):
            await pending


@pytest.mark.parametrize(("connection", "loads_pymodbus"), [
    ("TcpConnection(host='127.0.0.1')", False),
    ("RtuOverTcpConnection(type='rtu_over_tcp', host='127.0.0.1', port=4001)", True),
])
def test_pymodbus_is_loaded_only_for_an_rtu_link(connection: str, loads_pymodbus: bool) -> None:
    """A TCP-only gateway's agent never imports pymodbus (its own process: imports stick)."""
    script = ("import sys\n"
              "from agent.app import *  # everything a running agent imports\n"
              "from agent.modbus import ModbusLink\n"
              "from config.gateway import RtuOverTcpConnection, TcpConnection\n"
              f"ModbusLink({connection})\n"
              "print('pymodbus' in sys.modules)\n")
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           cwd=Path(__file__).resolve().parents[2])
    assert shown.stdout.strip() == str(loads_pymodbus)
