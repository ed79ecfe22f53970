"""The agent end to end against real Mosquitto and a real Modbus TCP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.profile import load_profile
from config.wire import EventsMessage, ReadingsMessage, StatusMessage
from tests.agent_harness import Acker, AgentThread, gateway_dict, write_config
from tests.agent_modbus_server import ModbusTestServer
from tests.servers import Mosquitto, free_port, wait_until

pytestmark = pytest.mark.integration

SDM630 = load_profile("sdm630")
LINE = load_profile("line_controller")


@pytest.fixture
def modbus() -> Iterator[ModbusTestServer]:
    with ModbusTestServer() as server:
        yield server


def tcp(server: ModbusTestServer, **extra: Any) -> dict[str, Any]:
    return {"type": "tcp", "host": server.host, "port": server.port, "timeout": 0.3, "retries": 0, **extra}


def line_plant(server: ModbusTestServer) -> list[dict[str, Any]]:
    server.unit(1).set_quantity(SDM630, "energy_import_kwh", 100.0)
    server.unit(3).set_quantity(SDM630, "energy_import_kwh", 50.0)
    server.unit(2).set_quantity(LINE, "line_state", "idle")
    return [
        {"id": "meter-1", "connection": "bus", "unit": 1, "profile": "sdm630", "poll_interval": 0.2,
         "line": "line-1"},
        {"id": "plc-1", "connection": "bus", "unit": 2, "profile": "line_controller", "poll_interval": 0.2,
         "line": "line-1"},
        {"id": "meter-2", "connection": "bus", "unit": 3, "profile": "sdm630", "poll_interval": 0.2,
         "line": "line-1"},
    ]


def test_readings_and_batch_events_flow_and_are_acknowledged(
    tmp_path: Path, mosquitto: Mosquitto, modbus: ModbusTestServer
) -> None:
    data = gateway_dict(mosquitto.port, tmp_path / "outbox.sqlite", {"bus": tcp(modbus)}, line_plant(modbus))
    data["health_port"] = metrics_port = free_port()
    config = write_config(tmp_path / "gw.yaml", data)
    acker = Acker(mosquitto.host, mosquitto.port)
    try:
        with AgentThread(config) as running:
            wait_until(lambda: len(acker.messages) >= 5, 15, "five readings messages")
            plc = modbus.unit(2)
            plc.set_quantity(LINE, "batch_id", "B-0001")
            plc.set_quantity(LINE, "product_code", "NMC811")
            plc.set_quantity(LINE, "line_state", "running")
            wait_until(lambda: any(e["kind"] == "batch_started" for e in acker.events()), 10, "batch start")
            modbus.unit(1).set_quantity(SDM630, "energy_import_kwh", 103.5)
            plc.set_quantity(LINE, "good_units", 42)
            plc.set_quantity(LINE, "line_state", "idle")
            wait_until(lambda: any(e["kind"] == "batch_ended" for e in acker.events()), 10, "batch end")
            wait_until(lambda: running.agent.outbox.depth == 0, 10, "outbox drained by acks")
            wait_until(lambda: acker.status is not None, 10, "retained status")
            metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
            assert running.error is None
    finally:
        acker.close()
    for payload in acker.raw.values():  # built without models, so check them against the models
        if b'"readings"' in payload:
            ReadingsMessage.model_validate_json(payload)
        else:
            EventsMessage.model_validate_json(payload)
    assert StatusMessage.model_validate(acker.status).state == "online"
    started = next(e for e in acker.events() if e["kind"] == "batch_started")
    ended = next(e for e in acker.events() if e["kind"] == "batch_ended")
    assert (started["batch_id"], started["product"], started["line"]) == ("B-0001", "NMC811", "line-1")
    assert started["counters"] == {"meter-1": {"energy_import_kwh": 100.0},
                                   "meter-2": {"energy_import_kwh": 50.0}}
    assert ended["counters"]["meter-1"] == {"energy_import_kwh": 103.5}
    assert ended["good_units"] == 42.0
    assert 'batchmeter_device_polls_ok_total{device="meter-1"}' in metrics
    assert "batchmeter_outbox_depth 0" in metrics
    seqs = sorted(acker.messages)
    assert seqs == list(range(1, len(seqs) + 1)), "seq is gap-free from 1"
    meter = [r for r in acker.readings() if r["device"] == "meter-1"]
    assert all(r["values"]["energy_import_kwh"] in (100.0, 103.5) for r in meter)


def test_exception_02_inside_a_block_still_delivers_the_other_registers(
    tmp_path: Path, mosquitto: Mosquitto, modbus: ModbusTestServer
) -> None:
    meter = modbus.unit(1)
    meter.set_quantity(SDM630, "voltage_l1_v", 231.0)
    meter.set_quantity(SDM630, "power_l3_w", 900.0)
    meter.illegal = {0x08}  # current_l2_a, inside the 0..73 block
    devices = [{"id": "meter-1", "connection": "bus", "unit": 1, "profile": "sdm630", "poll_interval": 0.2}]
    config = write_config(tmp_path / "gw.yaml", gateway_dict(
        mosquitto.port, tmp_path / "outbox.sqlite", {"bus": tcp(modbus)}, devices))
    acker = Acker(mosquitto.host, mosquitto.port)
    try:
        with AgentThread(config) as running:
            wait_until(lambda: len([r for r in acker.readings() if r.get("values")]) >= 3, 15, "3 readings")
            stats = running.agent.owners[0].devices[0].stats
    finally:
        acker.close()
    good = [r for r in acker.readings() if r.get("values")]
    for reading in good:
        assert "current_l2_a" not in reading["values"]
        assert reading["values"]["voltage_l1_v"] == 231.0
        assert reading["values"]["power_l3_w"] == 900.0
        assert len(reading["values"]) == len(SDM630.registers) - 1
    assert stats.unreadable == ["current_l2_a"]
    assert stats.exceptions["exception:2"] >= 1
    later = [r for r in meter.requests if r[1] <= 0x08 < r[1] + r[2]]
    assert len(later) == stats.exceptions["exception:2"], "once split, a refused register is not asked again"
