"""The simulator over real Modbus, read by a plain pymodbus client (not the agent).

The server runs in a thread with a hand-set simulated clock, so each read happens at a known
simulated instant and the test can compare the decoded values with the pure plant model.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusException

from config.loader import load_text
from config.profile import Function, Register
from config.simplant import SimPlant
from simulators.ledger import build_ledger, build_run_summary
from simulators.plant import COUNTER, Plant
from simulators.server import PlantServer

pytestmark = pytest.mark.integration

PLANT = """
site: it
seed: 11
products:
  p: {unit_mass_kg: 2.0, yield: 0.9, scrap: {edge_trim: {share: 0.5, destination: recycling},
                                             rejected_cells: {share: 0.5, destination: hazardous}}}
lines:
  - {id: l1, power_kw: {idle: 20, setup: 50, running: 300, fault: 10}}
devices:
  - {id: m-sdm630, profile: sdm630, line: l1, load_share: 0.3, counter_start_kwh: 1000, tcp: {port: 0}}
  - {id: m-iem, profile: iem3000, line: l1, load_share: 0.3, counter_start_kwh: 2000, tcp: {port: 0}}
  - {id: m-em24, profile: em24, line: l1, load_share: 0.4, counter_start_kwh: 3000, tcp: {port: 0}}
  - {id: m-umg, profile: janitza_umg, shared: true, power_kw: 80, tcp: {port: 0, unit_id: 2}}
  - {id: m-pac, profile: pac2200, shared: true, power_kw: 40, tcp: {port: 0, unit_id: 3}}
  - {id: m-sdm120, profile: sdm120, shared: true, power_kw: 3, rtu: {bus: b1, unit_id: 7}}
  - {id: lc1, profile: line_controller, role: line_controller, line: l1, tcp: {port: 0}}
  - {id: ws1, profile: weigh_station, role: weigh_station, tcp: {port: 0}}
  - {id: scale1, profile: wtx120, role: scale, tcp: {port: 0}}
  - {id: flaky, profile: sdm630, shared: true, power_kw: 5, tcp: {port: 0}}
rtu_buses:
  - {id: b1, link: bus1-link}
schedule:
  l1: [{batch_id: B-1, product: p, planned_units: 500, setup_s: 600, run_s: 3000, idle_before_s: 100}]
faults:
  - {device: flaky, kind: no_response, at_s: 1000, duration_s: 10}
  - {device: flaky, kind: exception, code: 1, at_s: 1010, duration_s: 10}
  - {device: flaky, kind: exception, code: 2, at_s: 1020, duration_s: 10}
  - {device: flaky, kind: exception, code: 3, at_s: 1030, duration_s: 10}
  - {device: flaky, kind: exception, code: 4, at_s: 1040, duration_s: 10}
  - {device: flaky, kind: exception, code: 6, at_s: 1050, duration_s: 10}
  - {device: flaky, kind: disconnect, at_s: 1060, duration_s: 10}
  - {device: flaky, kind: zero_read, at_s: 1070, duration_s: 10}
  - {device: flaky, kind: stuck, at_s: 1080, duration_s: 10}
  - {device: flaky, kind: torn_read, at_s: 1090, duration_s: 10}
"""


class Running:
    """A PlantServer on its own event-loop thread, with a simulated clock the test sets."""

    def __init__(self, plant: Plant, rtu_dir: Path) -> None:
        self.plant, self.sim_s = plant, 0.0
        self.server = PlantServer(plant, lambda: self.sim_s, rtu_links={"b1": rtu_dir / "bus1-link"})
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def client(self, device: str, timeout: float = 1.0) -> Any:
        endpoint = self.server.endpoints[device]
        client: Any = ModbusTcpClient(endpoint.host, port=endpoint.port, timeout=timeout, retries=0)
        assert client.connect(), device
        return client


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    plant = Plant(load_text(SimPlant, PLANT, "it-plant.yaml"))
    running = Running(plant, tmp_path_factory.mktemp("rtu"))
    yield running
    running.stop()


def _read(client: Any, reg: Register, unit: int) -> list[int]:
    read = client.read_holding_registers if reg.function is Function.HOLDING else client.read_input_registers
    response = read(reg.address, count=reg.words, device_id=unit)
    assert not response.isError(), response
    return list(response.registers)


def _close(expected: object, got: object, reg: Register) -> bool:
    if isinstance(expected, str):
        return expected == got
    assert isinstance(got, int | float)
    assert isinstance(expected, int | float)
    return math.isclose(float(got), float(expected), rel_tol=1e-6, abs_tol=abs(reg.scale))


def test_plain_client_reads_every_profile_and_decodes_physical_values(sim: Running) -> None:
    sim.sim_s = 1500.0  # running, after the first tickets
    expected_orders = set()
    for device_id, profile in sim.plant.profiles.items():
        if device_id == "flaky" or sim.server.endpoints[device_id].serial:
            continue
        truth = sim.plant.values(device_id, sim.sim_s)
        client = sim.client(device_id)
        try:
            for name, reg in profile.registers.items():
                value = reg.decoder()(_read(client, reg, sim.server.endpoints[device_id].unit_id))
                assert _close(truth[name], value, reg), (device_id, name, truth[name], value)
                expected_orders.add(reg.word_order.value)
        finally:
            client.close()
    assert {"ABCD", "CDAB"} <= expected_orders


def test_rtu_device_answers_over_the_pty_cable(sim: Running) -> None:
    sim.sim_s = 1500.0
    endpoint = sim.server.endpoints["m-sdm120"]
    assert endpoint.serial is not None
    assert Path(endpoint.serial).is_symlink()
    client: Any = ModbusSerialClient(endpoint.serial, baudrate=19200, timeout=1, retries=0)
    assert client.connect()
    try:
        reg = sim.plant.profiles["m-sdm120"].registers[COUNTER]
        value = reg.decoder()(_read(client, reg, endpoint.unit_id))
        assert value == pytest.approx(sim.plant.counter_kwh("m-sdm120", 1500.0), rel=1e-6)
    finally:
        client.close()


def test_counter_deltas_read_over_modbus_equal_the_ledger(sim: Running) -> None:
    batch = build_ledger(sim.plant, sim.plant.horizon_s, lambda s: round(s * 1000))[0]
    for meter, kwh in batch["energy_by_meter_kwh"].items():
        reg = sim.plant.profiles[meter].registers[COUNTER]
        client = sim.client(meter)
        try:
            sim.sim_s = batch["sim_start_s"]
            start = float(reg.decoder()(_read(client, reg, 1)))
            sim.sim_s = batch["sim_end_s"]
            end = float(reg.decoder()(_read(client, reg, 1)))
        finally:
            client.close()
        resolution = max(reg.scale, math.ulp(end / reg.scale) * 2**29 * reg.scale if reg.type == "f32" else 0)
        assert abs((end - start) - kwh) <= 2 * resolution, meter


def test_a_read_larger_than_the_device_accepts_is_refused(sim: Running) -> None:
    client = sim.client("m-iem")
    try:
        response = client.read_holding_registers(0x0BB7, count=101, device_id=1)  # accepts 100
        assert response.isError()
        assert response.exception_code == 3
        assert not client.read_holding_registers(0x0BB7, count=100, device_id=1).isError()
    finally:
        client.close()


def _flaky_read(sim: Running, at: float, timeout: float = 0.5) -> Any:
    sim.sim_s = at
    client = sim.client("flaky", timeout=timeout)
    try:
        return client.read_input_registers(0x0048, count=2, device_id=1)
    except ModbusException as exc:
        return exc
    finally:
        client.close()


def test_each_fault_appears_over_modbus_and_is_in_the_ledger(sim: Running) -> None:
    reg = sim.plant.profiles["flaky"].registers[COUNTER]
    no_answer = _flaky_read(sim, 1005.0)
    assert isinstance(no_answer, ModbusException) or no_answer.isError()
    for code, at in ((1, 1015.0), (2, 1025.0), (3, 1035.0), (4, 1045.0), (6, 1055.0)):
        response = _flaky_read(sim, at)
        assert response.isError()
        assert response.exception_code == code
    dropped = _flaky_read(sim, 1065.0)
    assert isinstance(dropped, ModbusException) or dropped.isError()
    assert _flaky_read(sim, 1075.0).registers == [0, 0]
    assert _flaky_read(sim, 1081.0).registers == _flaky_read(sim, 1089.0).registers
    torn = float(reg.decoder()(_flaky_read(sim, 1095.0).registers))
    true_kwh = sim.plant.counter_kwh("flaky", 1095.0)
    assert abs(torn - true_kwh) > true_kwh * 2**-9  # one high-word step: far beyond float32 rounding
    healthy = float(reg.decoder()(_flaky_read(sim, 1200.0).registers))  # reconnected, all well
    assert healthy == pytest.approx(sim.plant.counter_kwh("flaky", 1200.0), rel=1e-6)
    summary = build_run_summary(sim.plant, 2000.0, lambda s: round(s * 1000), dict(sim.server.tally.reads))
    served = {f["fault"] for f in summary["faults"] if f["device"] == "flaky" and f["reads_affected"] > 0}
    assert served == {"no_response", "exception", "disconnect", "zero_read", "stuck", "torn_read"}
