"""The HTTP API and dashboard over the in-memory source, through httpx's ASGI transport."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from cloud.api import COOKIE, create_app
from cloud.web.source import MemoryResultsSource
from tests.browser.samples import sample_curve, sample_results

TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    results = sample_results()
    source = MemoryResultsSource(results, {r.batch_id: sample_curve(r) for r in results})
    transport = httpx.ASGITransport(app=create_app(source, [TOKEN, "other-token"]))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.mark.parametrize("path", ["/api/batches", "/api/batches/B-001", "/api/aggregates", "/api/passport"])
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}]
)
async def test_api_refuses_missing_or_wrong_token(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> None:
    response = await client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "batch_id" not in response.text


async def test_pages_send_an_anonymous_browser_to_login(client: httpx.AsyncClient) -> None:
    response = await client.get("/batches/B-001")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fbatches%2FB-001"


async def test_batches_are_listed_with_filters(client: httpx.AsyncClient) -> None:
    everything = (await client.get("/api/batches", headers=AUTH)).json()
    assert [b["batch_id"] for b in everything] == ["B-001", "B-002", "B-003", "B-004"]
    alarmed = (await client.get("/api/batches?alarms=true", headers=AUTH)).json()
    assert [b["batch_id"] for b in alarmed] == ["B-002"]
    november_a = (await client.get("/api/batches?product=CELL-A&to=2026-12-01", headers=AUTH)).json()
    assert [b["batch_id"] for b in november_a] == ["B-001", "B-002"]


async def test_one_batch_in_full_equals_the_result(client: httpx.AsyncClient) -> None:
    expected = next(r for r in sample_results() if r.batch_id == "B-002")
    body = (await client.get("/api/batches/B-002", headers=AUTH)).json()
    assert body == expected.model_dump(mode="json")
    assert (await client.get("/api/batches/nope", headers=AUTH)).status_code == 404


async def test_csv_by_parameter_or_accept_header(client: httpx.AsyncClient) -> None:
    by_param = await client.get("/api/batches?format=csv", headers=AUTH)
    by_accept = await client.get("/api/batches", headers={**AUTH, "Accept": "text/csv"})
    assert by_param.headers["content-type"].startswith("text/csv")
    assert by_param.text == by_accept.text
    rows = list(csv.DictReader(io.StringIO(by_param.text)))
    assert [r["batch_id"] for r in rows] == ["B-001", "B-002", "B-003", "B-004"]
    power = await client.get("/api/batches/B-001/power?format=csv", headers=AUTH)
    assert power.text.splitlines()[0] == "meter,ts_ms,time,power_w"
    aggregates = await client.get("/api/aggregates?by=line&format=csv", headers=AUTH)
    assert [r["key"] for r in csv.DictReader(io.StringIO(aggregates.text))] == ["L1", "L2"]


async def test_power_curve_is_the_batch_meters_over_its_window(client: httpx.AsyncClient) -> None:
    rows = (await client.get("/api/batches/B-001/power", headers=AUTH)).json()
    assert {r["meter"] for r in rows} == {"L1-m1", "L1-m2"}
    result = sample_results()[0]
    assert all(result.start_ms <= r["ts_ms"] <= result.end_ms for r in rows)


async def test_bad_parameter_is_a_400_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/aggregates?by=week", headers=AUTH)
    assert response.status_code == 400
    assert "by:" in response.json()["error"]


async def test_openapi_document_lists_every_api_route(client: httpx.AsyncClient) -> None:
    document = (await client.get("/api/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    assert {"/api/batches", "/api/batches/{batch_id}", "/api/batches/{batch_id}/power", "/api/aggregates",
            "/api/passport"} <= set(document["paths"])
    assert "BatchResult" in document["components"]["schemas"]


async def test_login_sets_a_session_cookie_without_the_token(client: httpx.AsyncClient) -> None:
    refused = await client.post("/login", content="token=wrong&next=/", headers=_form())
    assert refused.status_code == 401
    response = await client.post("/login", content=f"token={TOKEN}&next=/plant", headers=_form())
    assert response.status_code == 303
    assert response.headers["location"] == "/plant"
    cookie = response.cookies[COOKIE]
    assert TOKEN not in cookie
    assert "httponly" in response.headers["set-cookie"].lower()
    client.cookies.set(COOKIE, cookie)
    page = await client.get("/plant")
    assert page.status_code == 200
    assert "Gold" in page.text or "Platinum" in page.text


async def test_login_refuses_to_redirect_off_site(client: httpx.AsyncClient) -> None:
    response = await client.post("/login", content=f"token={TOKEN}&next=//evil.example/", headers=_form())
    assert response.headers["location"] == "/"


async def test_token_in_url_logs_in_once_and_never_reaches_the_log(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await client.get(f"/batches/B-001?token={TOKEN}")
    assert response.status_code == 303
    assert response.headers["location"] == "/batches/B-001"
    assert COOKIE in response.cookies
    await client.post("/login", content=f"token={TOKEN}x", headers=_form())
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("batchmeter")]
    assert ours, "the server logs requests"
    assert not [m for m in ours if TOKEN in m]


async def test_pages_render_for_a_logged_in_browser(client: httpx.AsyncClient) -> None:
    for path, needle in [("/", 'id="batches"'), ("/batches/B-002", "unexplained counter jump"),
                         ("/products/CELL-A", 'id="specific-energy"'), ("/plant?month=2026-12", "Platinum")]:
        response = await client.get(path, headers=AUTH)
        assert response.status_code == 200, path
        assert needle in response.text, path
        assert "Content-Security-Policy" in response.headers


def _form() -> dict[str, str]:
    return {"Content-Type": "application/x-www-form-urlencoded"}
