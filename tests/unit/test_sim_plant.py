"""The pure plant model: deterministic physics, schedule, tickets and the ledger's exact truth."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from config.codec import DataType
from config.loader import ConfigError, load_text
from config.profile import Function
from config.quantities import Kind
from config.simplant import SimPlant, load_plant
from simulators.devices import DeviceImage, register_words
from simulators.ledger import build_ledger, build_run_summary
from simulators.plant import COUNTER, Plant

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"


def _ms(sim_s: float) -> int:
    return round(sim_s * 1000)


@pytest.fixture(scope="module")
def demo() -> Plant:
    return Plant(load_plant(EXAMPLES / "demo-plant.yaml"))


def _counter_as_read(plant: Plant, meter: str, t: float) -> float:
    """The import counter as a Modbus client decodes it from the register words at t."""
    image = DeviceImage(plant, meter)
    reg = image.profile.registers[COUNTER]
    words = image.words(reg.function, reg.address, reg.words, t)
    return float(reg.decoder()(words))


def _resolution_kwh(plant: Plant, meter: str, value: float) -> float:
    reg = plant.profiles[meter].registers[COUNTER]
    if reg.type is DataType.F32:
        return math.ulp(float(value) / reg.scale) * 2**29 * reg.scale  # float32 spacing
    if reg.type is DataType.F64:
        return math.ulp(float(value) / reg.scale) * reg.scale * 4
    return reg.scale


def test_same_file_and_seed_give_the_same_plant_whatever_the_read_order() -> None:
    spec = load_plant(EXAMPLES / "demo-plant.yaml")
    first, second = Plant(spec), Plant(spec)
    times = [0.5, 700.25, 2399.9, 4000.0, 4979.0]
    forward = [first.values(d, t) for t in times for d in first.devices]
    backward = [second.values(d, t) for t in reversed(times) for d in reversed(list(second.devices))]
    assert sorted(map(repr, forward)) == sorted(map(repr, backward))
    other = Plant(spec.model_copy(update={"seed": 7}))
    assert other.values("m-coat1", 1000.0) != first.values("m-coat1", 1000.0)


def test_counter_deltas_over_each_batch_equal_the_ledger(demo: Plant) -> None:
    ledger = build_ledger(demo, demo.horizon_s, _ms)
    assert [b["batch_id"] for b in ledger] == ["B1-0001", "B2-0001", "B1-0002", "B2-0002"]
    for batch in ledger:
        for meter, kwh in batch["energy_by_meter_kwh"].items():
            start = _counter_as_read(demo, meter, batch["sim_start_s"])
            end = _counter_as_read(demo, meter, batch["sim_end_s"])
            tolerance = 2 * _resolution_kwh(demo, meter, end)
            assert abs((end - start) - kwh) <= tolerance, (batch["batch_id"], meter)
        assert batch["energy_kwh"] == pytest.approx(sum(batch["energy_by_meter_kwh"].values()))


def test_power_follows_the_line_state(demo: Plant) -> None:
    load = demo.loads["m-coat1"]
    mean = {
        "idle": sum(load.power_w(t) for t in range(0, 100)) / 100,
        "setup": sum(load.power_w(t) for t in range(700, 1200)) / 500,
        "running": sum(load.power_w(t) for t in range(1300, 2400)) / 1100,
    }
    share = 0.6  # m-coat1's load_share of line1: idle 40 kW, setup 60 kW, running 400 kW
    assert mean["idle"] == pytest.approx(40_000 * share, rel=0.02)
    assert mean["setup"] == pytest.approx(60_000 * share, rel=0.02)
    assert mean["running"] == pytest.approx(400_000 * share, rel=0.02)


def test_line_controller_shows_batch_state_and_units(demo: Plant) -> None:
    assert demo.values("lc1", 60.0) == {"line_state": 0, "batch_id": "", "product_code": "",
                                        "good_units": 0, "reject_units": 0}
    setup = demo.values("lc1", 780.0)
    assert (setup["line_state"], setup["batch_id"], setup["good_units"]) == (1, "B1-0001", 0)
    running = demo.values("lc1", 1800.0)
    assert running["line_state"] == 2
    assert 0 < int(running["good_units"]) < 828
    after = demo.values("lc1", 2405.0)
    assert (after["line_state"], after["batch_id"]) == (0, "")
    assert (after["good_units"], after["reject_units"]) == (828, 72)


def test_scrap_is_booked_as_tickets_that_add_up_to_the_ledger(demo: Plant) -> None:
    ledger = {b["batch_id"]: b for b in build_ledger(demo, demo.horizon_s, _ms)}
    tickets = demo.schedule.tickets["ws1"]
    assert [tk.seq for tk in tickets] == list(range(1, len(tickets) + 1))
    gaps = [b.at_s - a.at_s for a, b in itertools.pairwise(tickets)]
    assert min(gaps) >= demo.spec.min_ticket_interval_s
    for batch_id, batch in ledger.items():
        booked = sum(tk.mass_kg for tk in tickets if tk.batch_id == batch_id)
        assert booked == pytest.approx(sum(batch["scrap_kg"].values()))
        assert sum(batch["scrap_by_destination_kg"].values()) == pytest.approx(booked)
    shown = demo.values("ws1", tickets[2].at_s + 1)
    assert shown["weighing_seq"] == 3
    assert shown["ticket_batch_id"] == tickets[2].batch_id
    assert ledger["B1-0001"]["diversion_rate"] == pytest.approx(0.8)


def test_shared_energy_is_split_among_the_batches_running(demo: Plant) -> None:
    ledger = build_ledger(demo, demo.horizon_s, _ms)
    dryroom = demo.loads["m-dryroom"]
    covered = dryroom.energy_between_kwh(600, 4980)  # some batch runs throughout [600, 4980)
    assert sum(b["shared_energy_kwh"] for b in ledger) == pytest.approx(covered)
    assert ledger[0]["shared_energy_kwh"] < dryroom.energy_between_kwh(600, 2400)


def test_a_day_of_the_example_plant_is_plausible() -> None:
    plant = Plant(load_plant(EXAMPLES / "plant.yaml"))
    assert plant.horizon_s == 24 * 3600
    ledger = build_ledger(plant, plant.horizon_s, _ms)
    summary = build_run_summary(plant, plant.horizon_s, _ms)
    electricity = sum(summary["energy_by_meter_kwh"].values())
    cells = sum(b["cell_kwh"] for b in ledger)
    print(f"day: {electricity:.0f} kWh for {cells:.0f} kWh of cells = {electricity / cells:.1f} kWh/kWh")
    assert 20 <= electricity / cells <= 40
    for batch in ledger:
        product = plant.spec.products[batch["product"]]
        units = batch["good_units"] + batch["reject_units"]
        rate = sum(batch["scrap_kg"].values()) / (units * product.unit_mass_kg)
        if batch["product"].endswith("rampup"):
            assert rate > 0.30, batch["batch_id"]
        else:
            assert 0.05 <= rate <= 0.12, batch["batch_id"]


PLANT_HEAD = """
site: t
seed: 1
products:
  p: {unit_mass_kg: 1.0, yield: 0.9, scrap: {edge_trim: {share: 1.0, destination: recycling}}}
lines:
  - {id: l1, power_kw: {idle: 10, setup: 20, running: 100, fault: 5}}
schedule:
  l1: [{batch_id: B1, product: p, planned_units: 100, setup_s: 100, run_s: 1000, idle_before_s: 10}]
"""


@pytest.mark.parametrize(
    ("devices", "message"),
    [
        ("  - {id: m1, profile: sdm630, line: nowhere, tcp: {port: 0}}\n", "unknown line 'nowhere'"),
        ("  - {id: m1, profile: sdm630, tcp: {port: 0}}\n", "a meter needs a line or shared"),
        ("  - {id: m1, profile: sdm630, line: l1, tcp: {port: 0}, rtu: {bus: b, unit_id: 1}}\n",
         "exactly one of tcp or rtu"),
        ("  - {id: m1, profile: sdm630, line: l1, tcp: {port: 0}}\nfaults:\n"
         "  - {device: m1, kind: exception, at_s: 5}\n", "needs its code"),
        ("  - {id: m1, profile: sdm630, line: l1, tcp: {port: 0}}\nfaults:\n"
         "  - {device: m9, kind: stuck, at_s: 5}\n", "unknown device 'm9'"),
    ],
)
def test_plant_file_errors_name_the_key(devices: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(SimPlant, PLANT_HEAD + "devices:\n" + devices, "bad-plant.yaml")
    assert "bad-plant.yaml" in str(err.value)
    assert message in str(err.value)


def test_rollover_on_a_counter_without_width_is_refused() -> None:
    text = PLANT_HEAD + "devices:\n  - {id: m1, profile: sdm630, line: l1, tcp: {port: 0}}\n" \
        "faults:\n  - {device: m1, kind: rollover, at_s: 50}\n"
    with pytest.raises(ValueError, match=r"faults\[0\] \(m1\): rollover needs a counter width"):
        Plant(load_text(SimPlant, text))


def test_register_words_floor_integer_counters_like_a_meter_display() -> None:
    reg = Plant(load_plant(EXAMPLES / "demo-plant.yaml")).profiles["m-asm1"].registers[COUNTER]
    assert reg.function is Function.HOLDING
    assert register_words(reg, Kind.COUNTER, 1.0009) == [0, 0, 0, 1000]  # 1000 Wh, not 1001


def test_a_line_stop_shows_fault_draws_fault_power_and_freezes_output(demo: Plant) -> None:
    run = next(r for r in demo.schedule.all_runs() if r.batch_id == "B1-0002")
    stop_start, stop_end = run.stops[0]
    assert demo.values("lc1", stop_start + 10)["line_state"] == 3
    assert demo.values("lc1", stop_start + 10)["batch_id"] == "B1-0002"
    assert demo.values("lc1", stop_end + 1)["line_state"] == 2
    frozen = demo.values("lc1", stop_start)["good_units"]
    assert demo.values("lc1", stop_end - 1)["good_units"] == frozen
    stopped = sum(demo.loads["m-coat1"].power_w(t) for t in range(stop_start, stop_end)) / 120
    assert stopped == pytest.approx(60_000 * 0.6, rel=0.02)  # line1 fault: 60 kW
    assert run.good_units(run.end_s) + run.reject_units(run.end_s) == run.planned_units


def test_two_devices_on_one_port_need_distinct_unit_ids() -> None:
    devices = ("devices:\n  - {id: m1, profile: sdm630, line: l1, tcp: {port: 1502, unit_id: 1}}\n"
               "  - {id: m2, profile: em24, line: l1, tcp: {port: 1502, unit_id: 1}}\n")
    with pytest.raises(ConfigError, match=r"devices\.m2: unit id 1 already used by m1"):
        load_text(SimPlant, PLANT_HEAD + devices, "gw.yaml")
    load_text(SimPlant, PLANT_HEAD + devices.replace("unit_id: 1}}\n", "unit_id: 2}}\n", 2)
              .replace("unit_id: 2}}\n", "unit_id: 1}}\n", 1), "gw.yaml")


def test_a_scrap_label_the_weigh_station_cannot_code_is_refused() -> None:
    text = PLANT_HEAD.replace("destination: recycling", "destination: composting") + (
        "devices:\n  - {id: ws, profile: weigh_station, role: weigh_station, tcp: {port: 0}}\n")
    with pytest.raises(ValueError, match=r"products.p.scrap.edge_trim: 'composting' has no code"):
        Plant(load_text(SimPlant, text))
