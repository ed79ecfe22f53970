"""A fault-injecting HTTP proxy in front of the real InfluxDB.

Only what the collector's adapter sends is understood (HTTP/1.1 with Content-Length); it
forwards everything to InfluxDB unless a fault is armed for `/write`:

- `fail`: answer the status given (503 by default) without forwarding;
- `partial`: forward only the first half of the lines, then answer 400 "partial write",
  the way InfluxDB 1.x reports points it did not take (the others are stored!);
- `hang`: read the request and never answer (a wedged server behind a load balancer).

Each fault applies to the next `count` writes (or until `clear()`), so a test can say
"the next three writes fail" without racing the collector's timing.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from enum import StrEnum

import httpx

from tests.faults.loopthread import LoopThread, ServedFromLoopThread
from tests.servers import free_port


class Fault(StrEnum):
    NONE = "none"
    FAIL = "fail"
    PARTIAL = "partial"
    HANG = "hang"


@dataclass
class HttpStats:
    writes: int = 0
    forwarded: int = 0
    failed: int = 0
    partial: int = 0
    hung: int = 0
    lines_forwarded: int = 0


@dataclass
class _Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return _Request(method, target, headers, body)


def _response(status: int, body: bytes, content_type: str = "application/json") -> bytes:
    head = (f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n")
    return head.encode() + body


class InfluxFaultProxy(ServedFromLoopThread):
    def __init__(self, influx_url: str) -> None:
        self.upstream = influx_url
        self.port = free_port()
        self.stats = HttpStats()
        self._fault = Fault.NONE
        self._status = 503
        self._left = 0
        self._then: list[tuple[Fault, int]] = []
        self._loop = LoopThread("influx-fault-proxy")
        self._client: httpx.AsyncClient | None = None
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def arm(self, fault: Fault, count: int = 1_000_000, status: int = 503) -> None:
        """Apply `fault` to the next `count` writes."""
        self._fault, self._left, self._status = fault, count, status
        self._then.clear()

    def then(self, fault: Fault, count: int = 1) -> None:
        """After the armed fault's writes, apply `fault` to the `count` writes that follow.

        Queued here, not armed by the test afterwards: the collector sends its next write
        (e.g. the first half of a partial write) before a test thread could react.
        """
        self._then.append((fault, count))

    def clear(self) -> None:
        self._fault, self._left = Fault.NONE, 0
        self._then.clear()

    @property
    def armed_left(self) -> int:
        queued = sum(count for _, count in self._then)
        return (self._left if self._fault is not Fault.NONE else 0) + queued

    async def _start(self) -> None:
        self._client = httpx.AsyncClient(base_url=self.upstream, timeout=30)
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._client is not None:
            await self._client.aclose()

    def _take_fault(self, request: _Request) -> Fault:
        if not request.target.startswith("/write"):
            return Fault.NONE
        if self._left <= 0 and self._then:
            self._fault, self._left = self._then.pop(0)
        if self._fault is Fault.NONE or self._left <= 0:
            return Fault.NONE
        if self._fault is Fault.PARTIAL and request.body.count(b"\n") == 0:
            return Fault.NONE  # a real server never refuses half of one good line
        self._left -= 1
        return self._fault

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                answer = await self._answer(request)
                if answer is None:
                    await asyncio.Event().wait()  # hang: never answer, until the client gives up
                writer.write(answer or b"")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _answer(self, request: _Request) -> bytes | None:
        fault = self._take_fault(request)
        if request.target.startswith("/write"):
            self.stats.writes += 1
        if fault is Fault.FAIL:
            self.stats.failed += 1
            return _response(self._status, b'{"error":"injected failure"}')
        if fault is Fault.HANG:
            self.stats.hung += 1
            return None
        body = request.body
        if fault is Fault.PARTIAL:
            lines = body.split(b"\n")
            body = b"\n".join(lines[: len(lines) // 2])
        status, payload, ctype = await self._forward(request, body)
        if fault is Fault.PARTIAL:
            self.stats.partial += 1
            dropped = len(request.body.split(b"\n")) - len(body.split(b"\n"))
            error = f"partial write: unable to parse points dropped={dropped}"
            return _response(400, json.dumps({"error": error}).encode())
        return _response(status, payload, ctype)

    async def _forward(self, request: _Request, body: bytes) -> tuple[int, bytes, str]:
        assert self._client is not None
        headers = {k: v for k, v in request.headers.items()
                   if k not in ("host", "content-length", "connection", "transfer-encoding")}
        response = await self._client.request(request.method, request.target, headers=headers, content=body)
        if request.target.startswith("/write") and response.status_code == 204:
            self.stats.forwarded += 1
            self.stats.lines_forwarded += body.count(b"\n") + 1 if body else 0
        return response.status_code, response.content, response.headers.get("content-type", "text/plain")
