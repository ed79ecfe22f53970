"""InfluxDB adapter over the v1-compatible HTTP API (`/write`, `/query`, `/ping`).

InfluxDB 1.x serves this API natively, 2.x and 3.x for compatibility, so one adapter covers
all three. The only module that talks to InfluxDB.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, TypeVar

import httpx
import msgpack

from cloud.gcpause import paused_gc

T = TypeVar("T")

_LINE_ERRORS = re.compile(r"partial write|unable to parse|field type conflict|invalid field|invalid tag")
ALARM_STATUSES = frozenset({401, 403, 404})
"""Wrong credentials or a missing database: an operator must act; retrying alone will not help."""


class InfluxError(Exception):
    """InfluxDB refused or failed a request; `status` is the HTTP status (0: no answer).

    `retry_after` is the server's Retry-After in seconds, when it sent one.
    """

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(f"InfluxDB {status or 'unreachable'}: {message}")

    @property
    def needs_operator(self) -> bool:
        return self.status in ALARM_STATUSES


@dataclass(frozen=True)
class RejectedLine:
    """A line InfluxDB refused on its own (parse error, field type conflict): never retried."""

    line: str
    error: str


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None  # absent, or an HTTP date: fall back to our own backoff


@dataclass(frozen=True)
class Series:
    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]

    def rows(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.values]

    def number_columns(self) -> tuple[list[int], list[float]]:
        """A (time, field) series as two lists, rows whose value is not a number left out.

        Column-wise through C-level map: a batch's window holds tens of thousands of rows."""
        rows = self.values
        if not set(map(type, map(itemgetter(1), rows))) <= _NUMBERS:
            rows = [row for row in rows if isinstance(row[1], int | float)]
        return list(map(int, map(itemgetter(0), rows))), list(map(float, map(itemgetter(1), rows)))


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
    compressed: bool = False
    """Ask for gzip-compressed answers: worth it over a slow link only. On a LAN or loopback
    InfluxDB spends more time compressing a batch's readings (~100 ms for 60k) than it saves."""
    msgpack_answers: bool = True
    """Ask for query answers in MessagePack (InfluxDB 1.6+): InfluxDB encodes a batch's 62k
    readings in ~70 ms instead of ~100 as JSON and they decode ~5x faster. A server that
    answers JSON anyway (older, or a compatibility API) is read by the answer's Content-Type."""
    _client: httpx.AsyncClient | None = field(default=None, init=False, repr=False)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"Authorization": f"Token {self.token}"} if self.token else {}
            if not self.compressed:
                headers["Accept-Encoding"] = "identity"
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
            raise InfluxError(response.status_code, _error_text(response), _retry_after(response))

    async def store(self, lines: Sequence[str], precision: str = "ns") -> list[RejectedLine]:
        """Write lines so that every good one is stored; return the lines InfluxDB refused.

        A 413 splits the batch in halves. A 400 (a line that does not parse, a field type
        conflict: InfluxDB stores the rest and says "partial write") is narrowed down by
        halving until the refused lines stand alone; re-sending the halves rewrites points
        identically, so nothing doubles, and it ends after ~2*log2(n) requests. Any other
        failure (incl. a 400 about the request, not a line) raises InfluxError and the
        caller keeps the whole batch for a retry.
        """
        if not lines:
            return []
        try:
            await self.write_lines(lines, precision)
        except InfluxError as exc:
            refused_lines = exc.status == 400 and _LINE_ERRORS.search(str(exc)) is not None
            if refused_lines and len(lines) == 1:
                return [RejectedLine(lines[0], str(exc))]
            if not (refused_lines or exc.status == 413) or len(lines) == 1:
                raise
            middle = len(lines) // 2
            return await self.store(lines[:middle], precision) + await self.store(lines[middle:], precision)
        return []

    def _query_headers(self) -> dict[str, str]:
        # InfluxDB 1.x matches Accept verbatim: a list with q-values would get JSON
        return {"Accept": _MSGPACK if self.msgpack_answers else "application/json"}

    async def query(self, influxql: str) -> list[Series]:
        """Run one InfluxQL statement; return its series (times as epoch ms)."""
        return await self.query_into(influxql, list)

    async def query_into(self, influxql: str, take: Callable[[list[Series]], T]) -> T:
        """Run one statement and hand its series to `take` at once; return what `take` returns.

        Decoding and `take` run with the cyclic collector paused (cloud.gcpause), and the
        decoded rows are dropped before it resumes: a batch's readings are tens of thousands
        of rows, which would otherwise start collections while they are alive.
        """
        return await self.query_many_into([influxql], lambda answers: take(answers[0]))


    async def _post_query(self, q: str) -> httpx.Response:
        # the statement in the form body: a plant's device lists outgrow a URL
        params = {"db": self.database, "epoch": "ms"}
        try:
            response = await self._http().post("/query", params=params, data={"q": q},
                                               headers=self._query_headers())
        except httpx.HTTPError as exc:
            raise InfluxError(0, repr(exc)) from exc
        if response.status_code != 200:
            raise InfluxError(response.status_code, _error_text(response), _retry_after(response))
        return response

    async def query_many_into(self, statements: Sequence[str], take: Callable[[list[list[Series]]], T]) -> T:
        """Run several statements in one request (InfluxDB runs them in order); hand each
        statement's series to `take` at once, in the statements' order."""
        response = await self._post_query(";".join(statements))
        with paused_gc():
            results = _decoded(response)["results"]
            errors = [r["error"] for r in results if "error" in r]
            if errors:
                raise InfluxError(400, errors[0])
            answers = [[Series(s["name"], s.get("tags") or {}, s["columns"], s["values"])
                        for s in r.get("series", [])] for r in results]
            del results
            taken = take(answers)
            del answers
        return taken


_MSGPACK = "application/x-msgpack"
_NUMBERS = {int, float}


def _decoded(response: httpx.Response) -> Any:
    """The answer's body by its Content-Type (epoch times are integers in both)."""
    if response.headers.get("content-type", "").startswith(_MSGPACK):
        return msgpack.unpackb(response.content)
    return response.json()


def _error_text(response: httpx.Response) -> str:
    try:
        error = _decoded(response).get("error")
    except (ValueError, AttributeError):  # not JSON / MessagePack, or not a map
        error = None
    return str(error) if error else response.text[:500]
