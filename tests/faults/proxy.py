"""A loopback TCP proxy that passes, stalls, drops or cuts traffic on command.

Put it between a client and a server (agent and broker, agent and a Modbus device) to
play the network's faults: a stall is a silent partition (nothing forwarded, nothing
closed, so only keepalives and timeouts can notice); drop discards bytes (a corrupting
middlebox); a cut closes every connection, with a FIN or with a RST.

It runs its own event loop in a daemon thread so sync and async tests drive it alike.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass, field
from enum import StrEnum

from tests.faults.loopthread import LoopThread, ServedFromLoopThread
from tests.servers import free_port

CHUNK = 65536


class Mode(StrEnum):
    PASS = "pass"
    STALL = "stall"
    DROP = "drop"


@dataclass
class ProxyStats:
    accepted: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    dropped: int = 0
    cuts: int = 0


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def _abort_with_reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        # Linger 0 turns close() into a RST instead of a FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class TcpProxy(ServedFromLoopThread):
    """Forward 127.0.0.1:`port` to `target_host`:`target_port`; faults on command."""

    def __init__(self, target_host: str, target_port: int, port: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.stats = ProxyStats()
        self._mode = Mode.PASS
        self._links: set[_Link] = set()
        self._loop = LoopThread("tcp-proxy")
        self._server: asyncio.Server | None = None
        self._flowing: asyncio.Event | None = None

    # -- control, from any thread -------------------------------------------------
    @property
    def mode(self) -> Mode:
        return self._mode

    def set_mode(self, mode: Mode) -> None:
        self._loop.call(self._set_mode(mode))

    def cut(self, reset: bool = False) -> int:
        """Close every open connection (FIN, or RST when `reset`); return how many."""
        return self._loop.call(self._cut(reset))

    @property
    def open_connections(self) -> int:
        return len(self._links)

    # -- inside the loop ----------------------------------------------------------
    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, self.host, self.port)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._cut(reset=False)

    async def _set_mode(self, mode: Mode) -> None:
        assert self._flowing is not None
        self._mode = mode
        if mode is Mode.STALL:
            self._flowing.clear()
        else:
            self._flowing.set()

    async def _cut(self, reset: bool) -> int:
        links = list(self._links)
        for link in links:
            for task in link.tasks:
                task.cancel()
            for writer in (link.client, link.upstream):
                if reset:
                    _abort_with_reset(writer)
                else:
                    writer.close()
        self._links.clear()
        self.stats.cuts += len(links)
        return len(links)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.accepted += 1
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*self.target), 5)
        except (OSError, TimeoutError):
            writer.close()
            return
        link = _Link(writer, up_writer)
        self._links.add(link)
        link.tasks = [
            asyncio.create_task(self._pump(reader, up_writer, link, upstream=True)),
            asyncio.create_task(self._pump(up_reader, writer, link, upstream=False)),
        ]

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, link: _Link, upstream: bool
    ) -> None:
        assert self._flowing is not None
        try:
            while chunk := await src.read(CHUNK):
                # A stall holds the chunk and stops reading, so the sender's window fills as
                # it would behind a dead route.
                await self._flowing.wait()
                if self._mode is Mode.DROP:
                    self.stats.dropped += len(chunk)
                    continue
                dst.write(chunk)
                await dst.drain()
                if upstream:
                    self.stats.bytes_up += len(chunk)
                else:
                    self.stats.bytes_down += len(chunk)
            dst.write_eof() if dst.can_write_eof() else dst.close()
        except (ConnectionError, OSError):
            pass
        finally:
            if link in self._links and all(t.done() or t is asyncio.current_task() for t in link.tasks):
                self._links.discard(link)
                link.client.close()
                link.upstream.close()
