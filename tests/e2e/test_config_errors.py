"""A config with a typo or a wrong type is refused by the real CLI, naming file, key and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

DEMO_PLANT = Path(__file__).resolve().parents[2] / "config" / "examples" / "demo-plant.yaml"


def _break(text: str, old: str, new: str) -> tuple[str, int]:
    """The text with `old` replaced by `new` once, and the 1-based line of the change."""
    index = text.index(old)
    return text.replace(old, new, 1), text[:index].count("\n") + 1


def _run_sim(plant: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulators", "run", "--plant", str(plant)],
        capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        pytest.param("\nseed: 42", "\nsede: 42", "sede", id="typo"),
        pytest.param("\nspeed: 60", "\nspeed: fast", "speed", id="wrong-type"),
        pytest.param("planned_units: 900", "planned_units: lots", "schedule.line1.0.planned_units",
                     id="nested-wrong-type"),
    ],
)
def test_simulator_names_file_key_and_line(tmp_path: Path, old: str, new: str, key: str) -> None:
    text, line = _break(DEMO_PLANT.read_text(), old, new)
    bad = tmp_path / "bad-plant.yaml"
    bad.write_text(text)
    done = _run_sim(bad)
    assert done.returncode != 0
    assert "READY" not in done.stdout
    assert str(bad) in done.stderr
    assert f"key {key}" in done.stderr
    assert f"line {line + (1 if old.startswith(chr(10)) else 0)}" in done.stderr


GATEWAY = """\
site: demo
gateway: gw1
mqtt:
  host: 127.0.0.1
connections:
  plc: {type: tcp, host: 127.0.0.1, port: 5020}
devices:
  - id: m1
    connection: plc
    unit: 1
    profile: sdm630
    poll_interval: 1.0
"""


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        pytest.param("poll_interval:", "poll_intervall:", "devices.0.poll_intervall", id="typo"),
        pytest.param("port: 5020", "port: fifty", "connections.plc.tcp.port", id="wrong-type"),
    ],
)
def test_agent_check_names_file_key_and_line(tmp_path: Path, old: str, new: str, key: str) -> None:
    text, line = _break(GATEWAY, old, new)
    bad = tmp_path / "bad-gateway.yaml"
    bad.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "agent", "check", "--config", str(bad)],
        capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0
    assert str(bad) in done.stderr
    assert f"key {key}" in done.stderr
    assert f"line {line}" in done.stderr


def test_a_valid_gateway_file_passes_the_same_check_up_to_the_devices(tmp_path: Path) -> None:
    """The control: the unbroken file is read; only the (absent) device fails, not the config."""
    good = tmp_path / "gateway.yaml"
    good.write_text(GATEWAY.replace("port: 5020", "port: 1"))
    done = subprocess.run(
        [sys.executable, "-m", "agent", "check", "--config", str(good)],
        capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL,
    )
    assert "config error" not in done.stderr
    assert "m1: FAILED" in done.stdout
