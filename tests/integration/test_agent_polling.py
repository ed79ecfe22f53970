"""Polling keeps its period with many devices and a dead one; RTU over a pty; check and probe."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.__main__ import main
from agent.app import Agent
from config.profile import load_profile
from tests.agent_harness import Acker, AgentThread, gateway_dict, write_config
from tests.agent_modbus_server import ModbusTestServer, PtyBridge
from tests.servers import Mosquitto, wait_until

pytestmark = pytest.mark.integration
SDM630 = load_profile("sdm630")
SCALE = load_profile("weigh_station")


@pytest.fixture
def two_servers() -> Iterator[tuple[ModbusTestServer, ModbusTestServer]]:
    with ModbusTestServer() as a, ModbusTestServer() as b:
        yield a, b


def meters(connection: str, units: range, every: float) -> list[dict[str, Any]]:
    return [{"id": f"{connection}-{u}", "connection": connection, "unit": u, "profile": "sdm630",
             "poll_interval": every} for u in units]


def assert_kept_period(agent: Agent, good: set[str], messages: dict[int, dict[str, Any]]) -> None:
    """Every good device was read in every cycle after the first few; none missed a tick."""
    stats = {d.device.id: d.stats for o in agent.owners for d in o.devices}
    for device in good:
        assert stats[device].missed == 0, f"{device} missed {stats[device].missed} polls"
        assert stats[device].errors == 0
    for seq in sorted(messages)[3:]:
        present = {r["device"] for r in messages[seq].get("readings", []) if r.get("values")}
        if "readings" in messages[seq]:
            assert good <= present, f"seq {seq} lacks {sorted(good - present)}"


def test_many_devices_keep_their_period_beside_a_dead_one(
    tmp_path: Path, mosquitto: Mosquitto, two_servers: tuple[ModbusTestServer, ModbusTestServer]
) -> None:
    a, b = two_servers
    for server in (a, b):
        for unit in range(1, 11):
            server.unit(unit).set_quantity(SDM630, "energy_import_kwh", float(unit))
    a.unit(11).dead = True
    b.unit(12).set_quantity(SCALE, "weighing_seq", 5)
    connections = {name: {"type": "tcp", "host": s.host, "port": s.port, "timeout": 0.1, "retries": 1,
                          "backoff_max": 2.0} for name, s in (("a", a), ("b", b))}
    devices = meters("a", range(1, 12), 0.5) + meters("b", range(1, 11), 0.5)
    devices.append({"id": "scale", "connection": "b", "unit": 12, "profile": "weigh_station",
                    "poll_interval": 0.5, "line": "l1"})
    config = write_config(tmp_path / "gw.yaml", gateway_dict(mosquitto.port, tmp_path / "o.sqlite",
                                                             connections, devices))
    acker = Acker(mosquitto.host, mosquitto.port)
    try:
        with AgentThread(config) as running:
            wait_until(lambda: len(acker.messages) >= 4, 20, "cycles")
            for field, value in (("ticket_net_kg", 3.25), ("scrap_category", "edge_trim"),
                                 ("scrap_destination", "recycling"), ("weighing_seq", 6)):
                b.unit(12).set_quantity(SCALE, field, value)
            wait_until(lambda: len(acker.messages) >= 16, 30, "sixteen cycles")
            agent = running.agent
            dead = next(d for o in agent.owners for d in o.devices if d.device.id == "a-11")
    finally:
        acker.close()
    good = {d["id"] for d in devices} - {"a-11"}
    assert_kept_period(agent, good, acker.messages)
    assert dead.stats.skipped > dead.stats.polls / 2, "the dead device is quarantined, not polled each tick"
    errors = [r for r in acker.readings() if r["device"] == "a-11"]
    assert errors
    assert all(r["quality"] == "error" and r["error"] == "timeout" and "values" not in r for r in errors)
    faults = [e for e in acker.events() if e["kind"] == "device_fault" and e["device"] == "a-11"]
    assert len(faults) == 1
    [weighed] = [e for e in acker.events() if e["kind"] == "scrap_weighed"]
    assert (weighed["weighing_seq"], weighed["mass_kg"], weighed["category"]) == (6, 3.25, "edge_trim")


def test_fifty_devices_on_one_gateway_each_keep_a_one_second_period(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """Issue 4: 50 devices behind one Modbus TCP gateway (one request at a time), all at 1 s."""
    units = range(1, 51)
    with ModbusTestServer() as server:
        for unit in units:
            server.unit(unit).set_quantity(SDM630, "energy_import_kwh", 1000.0 + unit)
        link = {"type": "tcp", "host": server.host, "port": server.port, "timeout": 0.5, "retries": 1}
        devices = meters("gw", units, 1.0)
        config = write_config(tmp_path / "gw.yaml", gateway_dict(mosquitto.port, tmp_path / "o.sqlite",
                                                                 {"gw": link}, devices))
        acker = Acker(mosquitto.host, mosquitto.port)
        try:
            with AgentThread(config) as running:
                wait_until(lambda: len(acker.messages) >= 8, 20, "eight one-second cycles",
                           fail_if=lambda: f"agent failed: {running.error!r}" if running.error else None)
                agent = running.agent
        finally:
            acker.close()
    assert running.error is None
    good = {d["id"] for d in devices}
    assert_kept_period(agent, good, acker.messages)
    cycles = [acker.messages[seq]["readings"] for seq in sorted(acker.messages)
              if "readings" in acker.messages[seq]][2:]
    assert len(cycles) >= 5
    for readings in cycles:
        # once per cycle each: no device read twice or skipped, none late (stale) or failed
        assert sorted(r["device"] for r in readings) == sorted(good)
        assert {r.get("quality", "ok") for r in readings} == {"ok"}  # ok is the wire default
    for unit in units:
        # each device's period is a second of the clock: read in every one, never twice in one
        seconds = [r["ts_ms"] // 1000 for readings in cycles for r in readings if r["device"] == f"gw-{unit}"]
        assert seconds == list(range(seconds[0], seconds[0] + len(cycles))), f"gw-{unit}: {seconds}"
        values = {r["values"]["energy_import_kwh"] for readings in cycles for r in readings
                  if r["device"] == f"gw-{unit}"}
        assert values == {1000.0 + unit}, f"gw-{unit} got another unit's answer: {values}"


def test_a_dead_device_on_an_rtu_bus_does_not_stall_the_others(tmp_path: Path, mosquitto: Mosquitto) -> None:
    with PtyBridge() as line, ModbusTestServer(serial=line.server_port, baudrate=38400) as server:
        for unit in (1, 2, 3):
            server.unit(unit).set_quantity(SDM630, "energy_import_kwh", float(unit))
        server.unit(3).dead = True
        bus = {"type": "rtu", "port": line.client_port, "baudrate": 38400, "timeout": 0.15, "retries": 0,
               "backoff_max": 3.0}
        devices = meters("bus", range(1, 4), 0.5)
        config = write_config(tmp_path / "gw.yaml", gateway_dict(mosquitto.port, tmp_path / "o.sqlite",
                                                                 {"bus": bus}, devices))
        acker = Acker(mosquitto.host, mosquitto.port)
        try:
            with AgentThread(config) as running:
                wait_until(lambda: len(acker.messages) >= 12, 30, "twelve cycles over RTU")
                agent = running.agent
        finally:
            acker.close()
    assert_kept_period(agent, {"bus-1", "bus-2"}, acker.messages)
    values = [r["values"]["energy_import_kwh"] for r in acker.readings()
              if r["device"] == "bus-2" and "values" in r]
    assert set(values) == {2.0}
    assert any(r["device"] == "bus-3" and r["error"] == "timeout" for r in acker.readings() if "error" in r)


def test_check_and_probe_read_a_real_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ModbusTestServer() as server:
        server.unit(1).set_quantity(SDM630, "energy_import_kwh", 1226.5)
        server.unit(4).dead = True
        bus = {"type": "tcp", "host": server.host, "port": server.port, "timeout": 0.2, "retries": 0}
        devices = meters("bus", range(1, 2), 1.0) + meters("bus", range(4, 5), 1.0)
        config = write_config(tmp_path / "gw.yaml", gateway_dict(1883, tmp_path / "o.sqlite", {"bus": bus},
                                                                 devices))
        assert main(["check", "--config", str(config)]) == 1
        out = capsys.readouterr().out
        assert "bus-1: ok" in out
        assert "energy_import_kwh = 1226.5" in out
        assert "bus-4: FAILED (timeout)" in out
        argv = ["probe", "--host", server.host, "--port", str(server.port), "--unit", "1",
                "--address", "0x48", "--count", "2", "--function", "input"]
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "ABCD=1226.5" in out
        assert " 73 " in out  # the manual's 1-based number beside wire address 72
