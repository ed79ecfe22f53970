"""The InfluxDB adapter's reaction to each kind of answer, with a fake transport."""

from __future__ import annotations

from typing import Any

import httpx
import msgpack
import pytest

from cloud.influx import InfluxError, InfluxHttp


def influx_answering(answer: object) -> tuple[InfluxHttp, list[list[str]]]:
    bodies: list[list[str]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        lines = request.content.decode().split("\n")
        bodies.append(lines)
        assert request.url.params["precision"] == "ns"
        return answer(lines)  # type: ignore[operator, no-any-return]

    return InfluxHttp("http://influx", "db", transport=httpx.MockTransport(handle)), bodies


async def test_413_splits_the_batch_until_it_fits() -> None:
    influx, bodies = influx_answering(lambda lines: httpx.Response(413 if len(lines) > 2 else 204))
    assert await influx.store([f"m x={i}.0 1" for i in range(8)]) == []
    assert sorted(line for body in bodies if len(body) <= 2 for line in body) == sorted(
        f"m x={i}.0 1" for i in range(8)
    )


async def test_a_partial_write_stores_good_lines_and_returns_the_bad_one_without_looping() -> None:
    def answer(lines: list[str]) -> httpx.Response:
        if any("bad" in line for line in lines):
            return httpx.Response(400, json={"error": "partial write: field type conflict dropped=1"})
        return httpx.Response(204)

    influx, bodies = influx_answering(answer)
    lines = [f"m x={i}.0 {i}" for i in range(16)] + ['m x="bad" 99']
    refused = await influx.store(lines)
    assert [r.line for r in refused] == ['m x="bad" 99']
    assert "field type conflict" in refused[0].error
    assert len(bodies) < 2 * 5 + 2


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_auth_and_missing_database_raise_an_operator_alarm(status: int) -> None:
    influx, _ = influx_answering(lambda lines: httpx.Response(status, json={"error": "database not found"}))
    with pytest.raises(InfluxError) as caught:
        await influx.store(["m x=1.0 1", "m x=2.0 2"])
    assert caught.value.needs_operator
    assert caught.value.status == status


async def test_retry_after_is_reported_with_the_error() -> None:
    influx, _ = influx_answering(lambda lines: httpx.Response(429, headers={"Retry-After": "7"}))
    with pytest.raises(InfluxError) as caught:
        await influx.store(["m x=1.0 1"])
    assert caught.value.retry_after == 7.0
    assert not caught.value.needs_operator


async def test_a_400_about_the_request_is_not_blamed_on_the_lines() -> None:
    influx, bodies = influx_answering(
        lambda lines: httpx.Response(400, json={"error": "database name required"})
    )
    with pytest.raises(InfluxError):
        await influx.store(["m x=1.0 1", "m x=2.0 2"])
    assert len(bodies) == 1


def influx_querying(answer: httpx.Response) -> tuple[InfluxHttp, list[str]]:
    accepted: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        accepted.append(request.headers["Accept"])
        return answer

    return InfluxHttp("http://influx", "db", transport=httpx.MockTransport(handle)), accepted


ANSWER = {"results": [{"statement_id": 0, "series": [
    {"name": "reading", "tags": {"device": "m1"}, "columns": ["time", "kwh"], "values": [[1000, 1.5]]}]}]}


@pytest.mark.parametrize("body", [
    {"content": msgpack.packb(ANSWER), "headers": {"Content-Type": "application/x-msgpack"}},
    {"json": ANSWER},
], ids=["msgpack", "json-anyway"])
async def test_a_query_answer_is_read_by_its_content_type(body: dict[str, Any]) -> None:
    influx, accepted = influx_querying(httpx.Response(200, **body))
    [series] = await influx.query("SELECT kwh FROM reading")
    assert (series.tags, series.values) == ({"device": "m1"}, [[1000, 1.5]])
    assert accepted == ["application/x-msgpack"]


async def test_a_query_error_in_messagepack_is_reported_with_its_message() -> None:
    refusal = {"error": "error parsing query: found EOF"}
    influx, _ = influx_querying(httpx.Response(
        400, content=msgpack.packb(refusal), headers={"Content-Type": "application/x-msgpack"}))
    with pytest.raises(InfluxError, match="error parsing query: found EOF") as caught:
        await influx.query("SELECT")
    assert caught.value.status == 400
