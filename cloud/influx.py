"""InfluxDB adapter over the v1-compatible HTTP API (`/write`, `/query`, `/ping`).

InfluxDB 1.x serves this API natively, 2.x and 3.x for compatibility, so one adapter covers
all three. The only module that talks to InfluxDB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx


class InfluxError(Exception):
    """InfluxDB refused or failed a request; `status` is the HTTP status (0: no answer)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"InfluxDB {status or 'unreachable'}: {message}")


@dataclass(frozen=True)
class Series:
    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]

    def rows(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.values]


@dataclass
class InfluxHttp:
    url: str
    database: str
    retention_policy: str | None = None
    username: str | None = None
    password: str | None = None
    token: str | None = None
    timeout: float = 10.0
    transport: httpx.AsyncBaseTransport | None = None
    _client: httpx.AsyncClient | None = field(default=None, init=False, repr=False)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"Authorization": f"Token {self.token}"} if self.token else {}
            auth = (self.username, self.password or "") if self.username else None
            self._client = httpx.AsyncClient(
                base_url=self.url, headers=headers, auth=auth, timeout=self.timeout,
                transport=self.transport,
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ping(self) -> bool:
        try:
            response = await self._http().get("/ping")
        except httpx.HTTPError:
            return False
        return response.status_code == 204

    async def write_lines(self, lines: Sequence[str], precision: str = "ms") -> None:
        """Write line-protocol lines; raise InfluxError on anything but 204."""
        params = {"db": self.database, "precision": precision}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        body = "\n".join(lines).encode()
        try:
            response = await self._http().post("/write", params=params, content=body)
        except httpx.HTTPError as exc:
            raise InfluxError(0, repr(exc)) from exc
        if response.status_code != 204:
            raise InfluxError(response.status_code, response.text[:500])

    async def query(self, influxql: str) -> list[Series]:
        """Run one InfluxQL statement; return its series (times as epoch ms)."""
        params = {"db": self.database, "q": influxql, "epoch": "ms"}
        try:
            response = await self._http().post("/query", params=params)
        except httpx.HTTPError as exc:
            raise InfluxError(0, repr(exc)) from exc
        if response.status_code != 200:
            raise InfluxError(response.status_code, response.text[:500])
        result = response.json()["results"][0]
        if "error" in result:
            raise InfluxError(400, result["error"])
        return [
            Series(s["name"], s.get("tags") or {}, s["columns"], s["values"])
            for s in result.get("series", [])
        ]
