"""The API refuses every call without a valid token, and never writes a token to its log."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.faults.conftest import Record
from tests.servers import InfluxDB, ManagedProcess, free_port, wait_until

pytestmark = pytest.mark.faults

PROTECTED = ["/api/batches", "/api/batches/B1", "/api/batches/B1/power", "/api/aggregates",
             "/api/zero-waste", "/api/passport"]


@dataclass
class Served:
    url: str
    token: str
    log: Path


@pytest.fixture
def served(influxdb: InfluxDB, tmp_path: Path) -> Iterator[Served]:
    token = "tok-" + secrets.token_hex(16)
    port = free_port()
    config = {"influx": {"url": influxdb.url, "database": influxdb.database},
              "api": {"host": "127.0.0.1", "port": port, "tokens": [token]}, "metrics": {"enabled": False}}
    path = tmp_path / "cloud.yaml"
    path.write_text(yaml.safe_dump(config))
    log = tmp_path / "serve.log"
    process = ManagedProcess([sys.executable, "-m", "cloud", "serve", "--config", str(path)], log).spawn()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200, 30, "the API",
                   fail_if=process.exited)
        yield Served(url, token, log)
    finally:
        process.kill()


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    return httpx.get(url, headers=headers or {}, timeout=10, follow_redirects=False).status_code


def test_the_api_refuses_calls_without_a_valid_token(served: Served, figures: Record) -> None:
    refused = {path: _status(served.url + path) for path in PROTECTED}
    wrong = {path: _status(served.url + path, {"Authorization": "Bearer wrong"}) for path in PROTECTED}
    query_wrong = _status(f"{served.url}/api/batches?token=wrong")
    allowed = _status(served.url + "/api/batches", {"Authorization": f"Bearer {served.token}"})
    # A link with the right token in its query string, the form most likely to end up in a log.
    _status(f"{served.url}/api/batches?token={served.token}")
    dashboard = _status(served.url + "/")
    log = served.log.read_text(errors="replace")
    figures("security: API tokens", {
        "protected routes probed": len(PROTECTED),
        "refused without a token (401)": sum(s == 401 for s in refused.values()),
        "refused with a wrong token (401)": sum(s == 401 for s in wrong.values()),
        "dashboard without a token": dashboard, "with the token": allowed,
        "token found in the service log": served.token in log,
    })
    assert set(refused.values()) == {401}, refused
    assert set(wrong.values()) == {401}, wrong
    assert query_wrong == 401
    assert dashboard in (302, 303, 307, 401)
    assert allowed == 200
    assert served.token not in log
