"""`batchmeter-cloud serve` over a real InfluxDB seeded by attribution's writer: the API's numbers
are the stored attribution results, and nothing is served without a token."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest

from tests.browser.serving import Served, served
from tests.servers import InfluxDB, wait_until

pytestmark = pytest.mark.integration
SCHEMA = json.loads((Path(__file__).parents[2] / "cloud/web/static/passport.schema.json").read_text())


@pytest.fixture
def server(influxdb: InfluxDB, tmp_path: Path) -> Iterator[Served]:
    with served(influxdb, tmp_path) as running:
        yield running


def test_api_numbers_equal_the_stored_attribution_results(server: Served) -> None:
    listed = server.get("/api/batches").json()
    assert [b["batch_id"] for b in listed] == [r.batch_id for r in server.results]
    for result in server.results:
        full = server.get(f"/api/batches/{result.batch_id}").json()
        assert full == result.model_dump(mode="json")
    by_id = {b["batch_id"]: b for b in listed}
    for result in server.results:
        assert by_id[result.batch_id]["energy_kwh"] == result.energy_kwh
        assert by_id[result.batch_id]["co2e_kg_market"] == result.co2e_kg_market


def test_filters_and_csv_against_the_store(server: Served) -> None:
    rows = list(csv.DictReader(io.StringIO(server.get("/api/batches?line=L1&format=csv").text)))
    assert [r["batch_id"] for r in rows] == [r.batch_id for r in server.results if r.line == "L1"]
    alarmed = server.get("/api/batches?alarms=true").json()
    assert [b["batch_id"] for b in alarmed] == [r.batch_id for r in server.results if r.alarms]
    months = server.get("/api/aggregates?by=month").json()
    assert sum(m["batches"] for m in months) == len(server.results)


def test_power_curve_comes_from_the_meters_readings(server: Served) -> None:
    result = server.results[0]
    rows = server.get(f"/api/batches/{result.batch_id}/power").json()
    assert {r["meter"] for r in rows} == set(result.energy_by_meter_kwh)
    assert min(r["ts_ms"] for r in rows) == result.start_ms
    assert max(r["ts_ms"] for r in rows) == result.end_ms


def test_unauthenticated_calls_are_refused(server: Served) -> None:
    assert httpx.get(f"{server.url}/api/batches", timeout=10).status_code == 401
    wrong = httpx.get(f"{server.url}/api/batches", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401
    page = httpx.get(f"{server.url}/", timeout=10)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")


def test_passport_export_validates_against_the_schema(server: Served) -> None:
    document = server.get("/api/passport?product=CELL-A").json()
    served_schema = httpx.get(f"{server.url}/api/passport/schema.json", timeout=10).json()
    assert served_schema == SCHEMA
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(document)
    cell_a = [r for r in server.results if r.product == "CELL-A"]
    assert document["dataQuality"]["batches"] == len(cell_a)
    assert document["absoluteCarbonFootprint"] == pytest.approx(sum(r.co2e_kg_location for r in cell_a))


def test_the_token_never_reaches_the_server_log(server: Served) -> None:
    httpx.get(f"{server.url}/?token={server.token}", timeout=10)
    server.get("/api/batches")
    wait_until(lambda: "GET /api/batches 200" in server.log_path.read_text(), 10, "the request in the log")
    assert "GET / 303" in server.log_path.read_text()
    assert server.token not in server.log_path.read_text()
