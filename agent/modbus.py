"""The Modbus adapter: one link per connection, Modbus TCP by our own client, RTU by pymodbus.

`ModbusLink` is one connection (TCP, RTU over TCP, or a serial RTU bus). It sends one
request at a time and maps every failure onto the agent's own errors: `ReadTimeout`,
`ReadRefused(code)` (reason `exception:<code>`), `LinkDown`. Retries and reconnect backoff
are the caller's (poller.ConnectionOwner), so that their bounds are ours.

Modbus TCP does not go through pymodbus but through `MbapClient` below: MBAP framing by
`struct`, one asyncio Protocol per connection, one request in flight, replies matched on
their transaction id. Measured on a 2-core gateway-class machine, 50 SDM630 meters at
1 Hz: a pymodbus 3.16 client request alone costs ~275-330 us of CPU (its transaction
manager, framer and PDU classes run per request), a bare pymodbus + paho loop 336-357 us
per device poll; this client's request costs ~15-25 us, and the whole agent (outbox and
publishing included) went from ~813 us to the figure in bench/agent_cost.py's output.
RTU (serial) and RTU over TCP keep pymodbus: their framing (CRC, inter-frame silence,
serial I/O) is what pymodbus is for, and a serial bus is bounded by its baud rate anyway.
It lives in agent/modbus_rtu.py (the only module that imports pymodbus, pinned to 3.16),
imported when the first RTU link is made, so a TCP-only gateway never loads pymodbus (1.7 MB
of RSS and 20 ms of start-up on top of what the agent loads anyway).
"""

from __future__ import annotations

import asyncio
import math
import struct
import time
import weakref
from typing import TYPE_CHECKING

from config.gateway import RtuConnection, RtuOverTcpConnection, TcpConnection
from config.profile import Function

if TYPE_CHECKING:
    from agent.modbus_rtu import PymodbusClient


class ReadFailed(Exception):
    """A read that produced no values; `reason` is what the reading's `error` says."""

    reason = "error"


class ReadTimeout(ReadFailed):
    reason = "timeout"


class ReadRefused(ReadFailed):
    def __init__(self, code: int) -> None:
        super().__init__(f"exception {code}")
        self.code = code
        self.reason = f"exception:{code}"


class LinkDown(ReadFailed):
    reason = "disconnected"


ILLEGAL_ADDRESS = 2
FUNCTION_CODES = {Function.COIL: 1, Function.DISCRETE: 2, Function.HOLDING: 3, Function.INPUT: 4}
_REQUEST = struct.Struct(">HHHBBHH")  # MBAP (tid, protocol 0, length 6, unit) + fc, address, count
_MBAP = struct.Struct(">HHH")  # tid, protocol, length (unit + PDU bytes)
_MAX_LENGTH = 254  # the MBAP length field's limit: unit id + a 253-byte PDU
_WORDS = [struct.Struct(f">{n}H") for n in range(126)]  # prebuilt: no format parsing per reply


def words_of(code: int, count: int, pdu: bytes) -> list[int]:
    """The values in a read reply PDU (bits as 0/1), or the ReadFailed it amounts to."""
    if pdu[0] == code | 0x80:
        raise ReadRefused(pdu[1] if len(pdu) > 1 else 0)
    if pdu[0] != code or len(pdu) < 2:
        raise ReadFailed(f"reply to function {pdu[0]}, not {code}")
    size = pdu[1]
    if len(pdu) != size + 2:
        raise ReadFailed(f"short response: byte count {size}, {len(pdu) - 2} bytes")
    if code > 2:
        if size != 2 * count or count > 125:
            raise ReadFailed(f"short response: {size // 2} of {count} registers")
        return list(_WORDS[count].unpack_from(pdu, 2))
    if size != (count + 7) // 8:
        raise ReadFailed(f"short response: {size} bytes for {count} bits")
    return [(pdu[2 + i // 8] >> (i % 8)) & 1 for i in range(count)]


class _MbapStream(asyncio.Protocol):
    """Cuts one TCP stream into MBAP frames; only the awaited transaction id answers `waiter`.

    Any other frame (a late reply to a request that timed out, a duplicate) is discarded
    and counted. A frame that is not MBAP leaves no way to find the next frame boundary,
    so the connection is dropped and re-made by the caller.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.tid = -1
        self.waiter: asyncio.Future[bytes] | None = None
        self.discarded = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail(LinkDown(f"connection lost: {exc}" if exc else "connection closed by peer"))

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        while len(buffer) >= 7:
            tid, protocol, length = _MBAP.unpack_from(buffer)
            if protocol != 0 or not 2 <= length <= _MAX_LENGTH:
                self._garbled(f"not an MBAP frame (protocol {protocol}, length {length})")
                return
            end = 6 + length
            if len(buffer) < end:
                break
            self._frame(tid, buffer[7:end])
            buffer = buffer[end:]
        self.buffer = buffer

    def _frame(self, tid: int, pdu: bytes) -> None:
        waiter = self.waiter
        if tid == self.tid and waiter is not None and not waiter.done():
            waiter.set_result(pdu)
        else:
            self.discarded += 1

    def _garbled(self, detail: str) -> None:
        self.buffer = b""
        if self.transport is not None:
            self.transport.abort()
        self._fail(LinkDown(detail))

    def _fail(self, exc: ReadFailed) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)


class _Expiry:
    """Request timeouts on shared timers: one timer per 10 ms slot of deadlines, not per request.

    The requests of one tick go out within a few ms of each other, so a tick's fifty reads
    share one or two timers instead of arming and cancelling fifty. A request times out
    within 10 ms after its deadline. One per event loop (timers belong to a loop).
    """

    GRAIN_S = 0.01

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.slots: dict[int, list[tuple[asyncio.Future[bytes], float]]] = {}

    def watch(self, waiter: asyncio.Future[bytes], timeout: float) -> None:
        slot = math.ceil((self.loop.time() + timeout) / self.GRAIN_S)
        waiting = self.slots.get(slot)
        if waiting is None:
            waiting = self.slots[slot] = []
            self.loop.call_at(slot * self.GRAIN_S, self._expire, slot)
        waiting.append((waiter, timeout))

    def _expire(self, slot: int) -> None:
        for waiter, timeout in self.slots.pop(slot, ()):
            if not waiter.done():
                waiter.set_exception(ReadTimeout(f"no response within {timeout} s"))


_EXPIRIES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Expiry] = weakref.WeakKeyDictionary()


def _expiry() -> _Expiry:
    loop = asyncio.get_running_loop()
    expiry = _EXPIRIES.get(loop)
    if expiry is None:
        expiry = _EXPIRIES[loop] = _Expiry(loop)
    return expiry


class MbapClient:
    """Modbus TCP on one socket: one request in flight, replies matched by transaction id.

    One caller at a time (the connection's owner); a second concurrent request is a bug and
    raises RuntimeError rather than waiting on a lock every request would pay for.

    No pipelining: many servers (pymodbus's among them) answer only the first frame of
    each TCP read. A timeout leaves the connection up; the late reply, if any, is
    discarded when it arrives because its transaction id is no longer the awaited one.
    """

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.stream: _MbapStream | None = None
        self._tid = 0
        self._expiry: _Expiry  # the running loop's, taken at connect (requests need a connection)

    @property
    def connected(self) -> bool:
        return self.stream is not None and self.stream.transport is not None

    async def connect(self) -> None:
        self.close()
        loop = asyncio.get_running_loop()
        try:
            _, stream = await asyncio.wait_for(
                loop.create_connection(_MbapStream, self.host, self.port), self.timeout + 1
            )
        except (TimeoutError, OSError) as exc:
            raise LinkDown(f"connect to {self.host}:{self.port} failed: {exc}") from exc
        self.stream = stream
        self._expiry = _expiry()

    def close(self) -> None:
        if self.stream is not None and self.stream.transport is not None:
            self.stream.transport.abort()
        self.stream = None

    async def read(self, function: Function, unit: int, address: int, count: int) -> list[int]:
        code = FUNCTION_CODES[function]
        return words_of(code, count, await self._exchange(code, unit, address, count))

    async def _exchange(self, code: int, unit: int, address: int, count: int) -> bytes:
        stream = self.stream
        if stream is None or stream.transport is None:
            raise LinkDown("not connected")
        if stream.waiter is not None:
            # one owner per connection (poller.ConnectionOwner) is what makes this hold
            raise RuntimeError(f"{self.host}:{self.port}: a request is already in flight")
        self._tid = (self._tid + 1) & 0xFFFF
        waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        stream.tid, stream.waiter = self._tid, waiter
        stream.transport.write(_REQUEST.pack(self._tid, 0, 6, unit, code, address, count))
        # not wait_for (a task per request) nor a timer per request: see _Expiry
        self._expiry.watch(waiter, self.timeout)
        try:
            return await waiter
        finally:
            stream.waiter = None


class ModbusLink:
    """One connection, whatever its kind: Modbus TCP via MbapClient, RTU via pymodbus."""

    def __init__(self, connection: TcpConnection | RtuOverTcpConnection | RtuConnection) -> None:
        self.connection = connection
        self.silence = 0.0
        self.wire: MbapClient | PymodbusClient
        if isinstance(connection, TcpConnection):
            self.wire = MbapClient(connection.host, connection.port, connection.timeout)
        else:
            from agent.modbus_rtu import PymodbusClient  # here, not at the top: see the docstring

            self.wire = PymodbusClient(connection)
        if isinstance(connection, RtuConnection):
            self.silence = connection.silence()
        elif isinstance(connection, RtuOverTcpConnection):
            self.silence = connection.frame_gap
        self._last_frame = 0.0

    @property
    def connected(self) -> bool:
        return self.wire.connected

    async def connect(self) -> None:
        await self.wire.connect()

    def close(self) -> None:
        self.wire.close()

    async def read(self, function: Function, unit: int, address: int, count: int) -> list[int]:
        """One request, one response: the words (coils and inputs as 0/1) or a ReadFailed."""
        wire = self.wire
        if not wire.connected:
            await wire.connect()
        if not self.silence:
            return await wire.read(function, unit, address, count)
        await self._keep_silence()
        try:
            return await wire.read(function, unit, address, count)
        finally:
            self._last_frame = time.monotonic()

    async def _keep_silence(self) -> None:
        """RTU needs a quiet line between frames; the wait is the bus's, not the device's."""
        wait = self._last_frame + self.silence - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
