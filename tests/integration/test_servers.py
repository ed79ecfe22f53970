"""The fixtures start real servers that answer."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.servers import InfluxDB, Mosquitto, wait_until

pytestmark = pytest.mark.integration


def test_mosquitto_accepts_connections(mosquitto: Mosquitto) -> None:
    with socket.create_connection((mosquitto.host, mosquitto.port), timeout=2):
        pass


def test_influxdb_round_trips_a_point(influxdb: InfluxDB) -> None:
    response = httpx.post(
        f"{influxdb.url}/write",
        params={"db": influxdb.database, "precision": "ms"},
        content=b"probe,device=m1 value=1.5 1700000000000",
    )
    assert response.status_code == 204
    series = influxdb.query('SELECT "value" FROM "probe"')
    assert series[0]["values"] == [[1700000000000, 1.5]]


def test_influxdb_v2_api_is_absent(influxdb: InfluxDB) -> None:
    """Why the store speaks the v1 API: InfluxDB 1.x has no /api/v2/write."""
    response = httpx.post(f"{influxdb.url}/api/v2/write", content=b"x v=1")
    assert response.status_code == 404


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for a reaper."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_a_managed_child_ends_when_its_parent_is_killed(tmp_path: Path) -> None:
    """A test run killed with SIGKILL leaves no server behind holding a port."""
    script = (
        "import sys, pathlib\n"
        "from tests.servers import ManagedProcess\n"
        "child = ManagedProcess(['sleep', '300'], pathlib.Path(sys.argv[1])).spawn()\n"
        "print(child.proc.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "child.log")],
        cwd=Path(__file__).resolve().parents[2], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert _running(child_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    wait_until(lambda: not _running(child_pid), 10, "the orphaned child to end")
