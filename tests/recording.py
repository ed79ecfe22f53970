"""An httpx transport that keeps every InfluxDB query request a client sends, and when."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import parse_qs

import httpx


@dataclass(frozen=True)
class Request:
    began: float
    answered: float
    q: str
    """The request's statements, `;`-separated as sent."""


class RecordingTransport(httpx.AsyncBaseTransport):
    """Pass as `InfluxHttp(..., transport=...)`; `requests` holds its `/query` requests."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        began = time.perf_counter()
        response = await self.inner.handle_async_request(request)
        if request.url.path == "/query":
            q = parse_qs((await request.aread()).decode()).get("q", [""])[0]
            self.requests.append(Request(began, time.perf_counter(), q))
        return response

    @property
    def statements(self) -> list[str]:
        return [statement for r in self.requests for statement in r.q.split(";")]

    async def aclose(self) -> None:
        await self.inner.aclose()
