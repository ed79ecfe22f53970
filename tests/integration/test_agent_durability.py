"""Nothing accepted is lost or duplicated: broker outage, and the agent killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.profile import load_profile
from tests.agent_harness import Acker, AgentThread, gateway_dict, write_config
from tests.agent_modbus_server import ModbusTestServer
from tests.servers import Mosquitto, wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]
SDM630 = load_profile("sdm630")


@pytest.fixture
def modbus() -> Iterator[ModbusTestServer]:
    with ModbusTestServer() as server:
        for unit in (1, 2, 3):
            server.unit(unit).set_quantity(SDM630, "energy_import_kwh", 10.0 * unit)
        yield server


def config_for(tmp_path: Path, broker: Mosquitto, modbus: ModbusTestServer) -> Path:
    devices = [{"id": f"m{u}", "connection": "bus", "unit": u, "profile": "sdm630", "poll_interval": 0.1}
               for u in (1, 2, 3)]
    bus = {"type": "tcp", "host": modbus.host, "port": modbus.port, "timeout": 0.3, "retries": 0}
    return write_config(tmp_path / "gw.yaml", gateway_dict(
        broker.port, tmp_path / "outbox.sqlite", {"bus": bus}, devices, resend_after=1.0, keepalive=5))


def outbox_seqs(path: Path) -> set[int]:
    with sqlite3.connect(path) as db:
        return {int(row[0]) for row in db.execute("SELECT seq FROM message")}


def assert_complete_and_unique(acker: Acker, remaining: set[int]) -> None:
    """Every seq ever committed was delivered or is still held; no reading under two seqs."""
    delivered = set(acker.messages)
    top = max(delivered | remaining)
    assert delivered | remaining == set(range(1, top + 1)), "a committed message went missing"
    identities: dict[tuple[str, int], int] = {}
    for seq, message in acker.messages.items():
        for reading in message.get("readings", []):
            key = (reading["device"], reading["ts_ms"])
            assert key not in identities, f"reading {key} in seq {identities.get(key)} and {seq}"
            identities[key] = seq


def test_broker_outage_loses_nothing_and_the_backlog_drains(
    tmp_path: Path, mosquitto: Mosquitto, modbus: ModbusTestServer
) -> None:
    acker = Acker(mosquitto.host, mosquitto.port)
    try:
        with AgentThread(config_for(tmp_path, mosquitto, modbus)) as running:
            agent = running.agent
            wait_until(lambda: len(acker.messages) >= 5, 15, "first messages")
            mosquitto.stop()
            cycles = agent.counters["cycles"]
            wait_until(lambda: agent.counters["cycles"] >= cycles + 20, 20, "cycles during the outage")
            wait_until(lambda: agent.outbox.depth >= 15, 10, "a backlog in the outbox")
            mosquitto.start()
            wait_until(lambda: agent.outbox.depth < 3 and agent.counters["cycles"] > cycles + 40,
                       40, "the backlog drained after the broker came back")
            held = outbox_seqs(tmp_path / "outbox.sqlite")
    finally:
        acker.close()
    assert_complete_and_unique(acker, held)
    assert len(acker.messages) >= 40


def spawn_agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "agent", "run", "--config", str(config)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def test_sigkill_mid_run_then_restart_loses_and_duplicates_nothing(
    tmp_path: Path, mosquitto: Mosquitto, modbus: ModbusTestServer
) -> None:
    config = config_for(tmp_path, mosquitto, modbus)
    acker = Acker(mosquitto.host, mosquitto.port)
    log = tmp_path / "agent.log"
    process = spawn_agent(config, log)
    try:
        wait_until(lambda: len(acker.messages) >= 10, 30, "messages from the first run")
        acker.ack = False  # the collector falls behind: unacknowledged messages pile up
        seen = len(acker.messages)
        wait_until(lambda: len(acker.messages) >= seen + 5, 15, "unacknowledged messages")
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        held = outbox_seqs(tmp_path / "outbox.sqlite")
        assert held, "the killed agent left unacknowledged messages in its outbox"
        first_run_top = max(max(acker.messages), max(held))
        acker.ack = True
        acker.send_ack(sorted(acker.messages))  # what the collector stored meanwhile
        process = spawn_agent(config, log)
        wait_until(lambda: max(acker.messages) >= first_run_top + 10, 30, "messages after the restart")
        wait_until(lambda: not (outbox_seqs(tmp_path / "outbox.sqlite") & held), 30,
                   "the first run's backlog re-sent and acknowledged")
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        wait_until(lambda: acker.status is not None and acker.status["state"] == "offline", 10,
                   "retained offline status after a clean stop")
        remaining = outbox_seqs(tmp_path / "outbox.sqlite")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        acker.close()
    assert "Traceback" not in log.read_text(), log.read_text()[-2000:]
    assert_complete_and_unique(acker, remaining)
    payloads: list[dict[str, Any]] = [json.loads(raw) for raw in acker.raw.values()]
    assert all(p["gateway"] == "gw-t" for p in payloads)
