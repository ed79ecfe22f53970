"""`batchmeter-sim run` as a process: endpoints, READY, a ledger at the end and on SIGTERM."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import ModbusTcpClient

from config.profile import load_profile

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "config" / "examples" / "demo-plant.yaml"


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "simulators", "run", *args], cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def _lines_until_ready(proc: subprocess.Popen[str], timeout: float = 30.0) -> list[str]:
    """Stdout lines up to READY, read on a thread so the deadline holds whatever is buffered."""
    assert proc.stdout is not None
    stdout = proc.stdout
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while not seen or seen[-1] != "READY":
        try:
            seen.append(lines.get(timeout=max(0.01, deadline - time.monotonic())).strip())
        except queue.Empty:
            raise TimeoutError(f"no READY within {timeout}s; got {seen}") from None
    return seen


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _endpoints(lines: list[str]) -> dict[str, Any]:
    endpoints: dict[str, Any] = json.loads(lines[-2])["endpoints"]
    return endpoints


def test_runs_the_demo_schedule_and_writes_the_ledger(tmp_path: Path, procs: list[Any]) -> None:
    ledger = tmp_path / "ledger.json"
    proc = _start("--plant", str(DEMO), "--speed", "3000", "--ledger", str(ledger), "--until-done")
    procs.append(proc)
    endpoints = _endpoints(_lines_until_ready(proc))
    assert set(endpoints) == {"lc1", "lc2", "m-coat1", "m-asm1", "m-line2", "m-dryroom", "ws1"}
    meter = endpoints["m-dryroom"]
    reg = load_profile("em24").registers["energy_import_kwh"]
    client: Any = ModbusTcpClient(meter["host"], port=meter["port"], timeout=2, retries=0)
    assert client.connect()
    try:
        words = client.read_input_registers(reg.address, count=reg.words, device_id=meter["unit_id"])
        assert float(reg.decoder()(words.registers)) >= 1523.4  # the dry room's counter start
    finally:
        client.close()
    assert proc.wait(timeout=60) == 0
    batches = json.loads(ledger.read_text())
    assert [b["batch_id"] for b in batches] == ["B1-0001", "B2-0001", "B1-0002", "B2-0002"]
    for batch in batches:
        assert batch["end_ms"] > batch["start_ms"]
        assert batch["energy_kwh"] > 0
        assert {"energy_by_meter_kwh", "shared_energy_kwh", "scrap_kg", "scrap_by_destination_kg",
                "diversion_rate", "good_units", "reject_units", "faults"} <= set(batch)
    run = json.loads((tmp_path / "ledger.run.json").read_text())
    assert len(run["tickets"]) == 14
    assert run["faults"] == []


def test_sigterm_writes_the_ledger_of_what_finished(tmp_path: Path, procs: list[Any]) -> None:
    ledger = tmp_path / "ledger.json"
    proc = _start("--plant", str(DEMO), "--speed", "1", "--ledger", str(ledger))
    procs.append(proc)
    _lines_until_ready(proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert json.loads(ledger.read_text()) == []  # nothing finished in the first real seconds
    assert json.loads((tmp_path / "ledger.run.json").read_text())["until_s"] < 60


def test_port_base_assigns_consecutive_ports(tmp_path: Path, procs: list[Any]) -> None:
    from tests.servers import free_port_range

    base = free_port_range(7)
    proc = _start("--plant", str(DEMO), "--port-base", str(base))
    procs.append(proc)
    endpoints = _endpoints(_lines_until_ready(proc))
    assert sorted(e["port"] for e in endpoints.values()) == list(range(base, base + 7))
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=30) == 0


def test_a_bad_plant_file_is_refused_naming_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEMO.read_text().replace("load_share: 0.6", "load_shar: 0.6"))
    result = subprocess.run([sys.executable, "-m", "simulators", "run", "--plant", str(bad)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "bad.yaml" in result.stderr
    assert "load_shar" in result.stderr
    assert "unknown key" in result.stderr


def test_the_example_plant_serves_a_day_at_high_speed(tmp_path: Path, procs: list[Any]) -> None:
    """A simulated day in ~10 real seconds, RTU bus included; the ledger's totals are plausible."""
    ledger = tmp_path / "day.json"
    proc = _start("--plant", str(ROOT / "config" / "examples" / "plant.yaml"), "--speed", "8640",
                  "--ledger", str(ledger), "--until-done", "--rtu-dir", str(tmp_path))
    procs.append(proc)
    endpoints = _endpoints(_lines_until_ready(proc))
    assert endpoints["m-air"]["serial"] == str(tmp_path / "cellplant-1-bus1")
    assert (tmp_path / "cellplant-1-bus1").is_symlink()
    assert proc.wait(timeout=120) == 0
    assert not (tmp_path / "cellplant-1-bus1").exists()  # the link goes with the simulator
    batches = json.loads(ledger.read_text())
    assert len(batches) == 9
    run = json.loads((tmp_path / "day.run.json").read_text())
    electricity = sum(run["energy_by_meter_kwh"].values())
    cells = sum(b["cell_kwh"] for b in batches)
    assert 20 <= electricity / cells <= 40
    kinds = {f["fault"] for f in run["faults"]}
    assert {"meter_replacement", "counter_reset"} <= kinds
