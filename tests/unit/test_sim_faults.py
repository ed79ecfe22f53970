"""Every fault kind, declared in a plant file, shows in the registers and is in the ledger."""

from __future__ import annotations

import pytest

from config.loader import load_text
from config.profile import Function
from config.simplant import FaultKind, SimPlant
from simulators.devices import DeviceImage
from simulators.faults import draw_random_faults
from simulators.ledger import build_ledger, build_run_summary
from simulators.plant import COUNTER, Plant, counter_width_kwh

PLANT = """
site: t
seed: 3
products:
  p: {unit_mass_kg: 1.0, yield: 0.9, scrap: {edge_trim: {share: 1.0, destination: recycling}}}
lines:
  - {id: l1, power_kw: {idle: 10, setup: 20, running: 360, fault: 5}}
devices:
  - {id: reset, profile: sdm630, line: l1, counter_start_kwh: 500, tcp: {port: 0}}
  - {id: swap, profile: iem3000, line: l1, counter_start_kwh: 900, tcp: {port: 0}}
  - {id: wrap, profile: em24, line: l1, tcp: {port: 0}}
  - {id: win, profile: em24, line: l1, counter_start_kwh: 1234.5, tcp: {port: 0}}
schedule:
  l1: [{batch_id: B1, product: p, planned_units: 100, setup_s: 100, run_s: 3000, idle_before_s: 10}]
faults:
  - {device: reset, kind: counter_reset, at_s: 1000}
  - {device: swap, kind: meter_replacement, at_s: 1000, value_kwh: 42.0}
  - {device: wrap, kind: rollover, at_s: 1500}
  - {device: win, kind: zero_read, at_s: 200, duration_s: 10}
  - {device: win, kind: stuck, at_s: 400, duration_s: 100}
  - {device: win, kind: torn_read, at_s: 600, duration_s: 10}
  - {device: win, kind: no_response, at_s: 800, duration_s: 10}
  - {device: win, kind: exception, code: 6, at_s: 900, duration_s: 10}
  - {device: win, kind: disconnect, at_s: 1100, duration_s: 10}
"""


@pytest.fixture(scope="module")
def plant() -> Plant:
    return Plant(load_text(SimPlant, PLANT, "faults-plant.yaml"))


def _counter(plant: Plant, meter: str, t: float) -> float:
    image = DeviceImage(plant, meter)
    reg = image.profile.registers[COUNTER]
    return float(reg.decoder()(image.words(reg.function, reg.address, reg.words, t)))


def test_counter_reset_starts_again_from_zero(plant: Plant) -> None:
    assert _counter(plant, "reset", 999.9) > 500
    assert _counter(plant, "reset", 1000.0) == pytest.approx(0.0, abs=1e-3)
    assert _counter(plant, "reset", 1100.0) == pytest.approx(10.0, rel=0.02)  # 360 kW x 100 s


def test_meter_replacement_starts_the_new_counter_at_its_value(plant: Plant) -> None:
    assert _counter(plant, "swap", 999.0) > 900
    assert _counter(plant, "swap", 1000.0) == pytest.approx(42.0, abs=1e-3)


def test_rollover_reaches_the_counter_width_at_the_declared_time(plant: Plant) -> None:
    width = counter_width_kwh(plant.profiles["wrap"].registers[COUNTER])
    assert width is not None
    assert width == pytest.approx(2**31 * 0.1)
    assert _counter(plant, "wrap", 1499.0) > width - 1.0
    assert _counter(plant, "wrap", 1501.0) < 1.0


def test_window_faults_change_the_words_only_inside_their_window(plant: Plant) -> None:
    image = DeviceImage(plant, "win")
    span = image.span(Function.INPUT)
    assert span is not None
    whole = span[1] - span[0]
    assert image.words(Function.INPUT, span[0], whole, 205.0) == [0] * whole
    assert image.words(Function.INPUT, span[0], whole, 215.0) != [0] * whole
    frozen = image.words(Function.INPUT, span[0], whole, 410.0)
    assert frozen == image.words(Function.INPUT, span[0], whole, 490.0)
    true_value = plant.counter_kwh("win", 605.0)
    torn = _counter(plant, "win", 605.0)
    assert torn - true_value == pytest.approx(65536 * 0.1, abs=0.2)  # the high word after a carry
    assert _counter(plant, "win", 615.0) == pytest.approx(plant.counter_kwh("win", 615.0), abs=0.1)
    assert plant.read_fault("win", 805.0).kind is FaultKind.NO_RESPONSE  # type: ignore[union-attr]
    fault = plant.read_fault("win", 905.0)
    assert fault is not None
    assert (fault.kind, fault.code) == (FaultKind.EXCEPTION, 6)
    assert plant.read_fault("win", 1105.0).kind is FaultKind.DISCONNECT  # type: ignore[union-attr]
    assert plant.read_fault("win", 1111.0) is None


def test_every_fault_is_in_the_ledger_with_its_time(plant: Plant) -> None:
    summary = build_run_summary(plant, plant.horizon_s, lambda s: round(s * 1000))
    logged = {(f["device"], f["fault"], f["ts_ms"]) for f in summary["faults"]}
    declared = {(f.device, f.kind.value, round(f.at_s * 1000)) for f in plant.spec.faults}
    assert logged == declared
    assert {f.value for f in FaultKind} == {k for _, k, _ in logged}
    batch = build_ledger(plant, plant.horizon_s, lambda s: round(s * 1000))[0]
    assert {(f["device"], f["fault"]) for f in batch["faults"]} == {(d, k) for d, k, _ in logged}


def test_ledger_energy_is_true_consumption_across_counter_faults(plant: Plant) -> None:
    batch = build_ledger(plant, plant.horizon_s, lambda s: round(s * 1000))[0]
    energies = batch["energy_by_meter_kwh"]
    # each meter carries the whole line load (own noise): discontinuities never change consumption
    for meter in ("reset", "swap", "wrap"):
        assert energies[meter] == pytest.approx(energies["win"], rel=0.005)


def test_random_faults_are_the_same_for_the_same_seed() -> None:
    spec = load_text(SimPlant, PLANT + "random_faults: {per_hour: 30, kinds: [stuck, exception], "
                                       "devices: [win, swap]}\n", "r.yaml")
    assert spec.random_faults is not None
    first = draw_random_faults(spec.random_faults, 3, 7200)
    assert first == draw_random_faults(spec.random_faults, 3, 7200)
    assert first != draw_random_faults(spec.random_faults, 4, 7200)
    assert 30 <= len(first) <= 100
    assert all(f.code in (1, 2, 3, 4, 6) for f in first if f.code)
