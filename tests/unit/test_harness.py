"""The end-to-end harness's pure parts: derived configs, endpoint parsing, report vs ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.cloud import load_cloud_config
from config.gateway import load_gateway
from config.plant import Route
from config.plant import load_plant as load_plant_model
from config.simplant import load_plant
from tests.harness import configs
from tests.harness.compare import compare, format_table
from tests.harness.simulator import parse_endpoints

DEMO_PLANT = Path(__file__).resolve().parents[2] / "config" / "examples" / "demo-plant.yaml"


def _services(tmp_path: Path) -> configs.Services:
    return configs.Services("127.0.0.1", 18830, "http://127.0.0.1:18086", "db", tmp_path, 18080, 19464, 0.2)


def _addresses() -> dict[str, configs.DeviceAddress]:
    plant = load_plant(DEMO_PLANT)
    return {d.id: configs.TcpAddress("127.0.0.1", 20000 + i, 1) for i, d in enumerate(plant.devices)}


def test_derived_configs_load_through_the_parts_own_models(tmp_path: Path) -> None:
    plant, svc = load_plant(DEMO_PLANT), _services(tmp_path)
    configs.write_yaml(tmp_path / "gateway.yaml", configs.gateway_config(plant, _addresses(), svc))
    configs.write_yaml(tmp_path / "plant.yaml", configs.plant_model(plant, svc.poll_interval_s))
    configs.write_yaml(tmp_path / "cloud.yaml", configs.cloud_config(svc))

    gateway, _ = load_gateway(tmp_path / "gateway.yaml")
    model = load_plant_model(tmp_path / "plant.yaml")
    cloud = load_cloud_config(tmp_path / "cloud.yaml")

    assert {d.id for d in gateway.devices} == {d.id for d in plant.devices}
    assert cloud.plant_file == (tmp_path / "plant.yaml").resolve()
    assert cloud.mqtt.port == 18830
    shared = [m for m in model.meters if m.shared]
    assert [m.id for m in shared] == ["m-dryroom"]
    assert {m.id: m.line for m in model.meters if not m.shared} == {
        "m-coat1": "line1", "m-asm1": "line1", "m-line2": "line2"
    }


def test_every_scrap_destination_of_the_demo_maps_to_a_route() -> None:
    scrap = configs.plant_model(load_plant(DEMO_PLANT), 1.0)["scrap"]
    assert scrap["destinations"]["hazardous"] == Route.HAZARDOUS_TREATMENT.value
    assert set(scrap["destinations"]) == {"recycling", "energy_recovery", "hazardous", "landfill"}


def test_devices_sharing_a_port_share_one_connection(tmp_path: Path) -> None:
    plant = load_plant(DEMO_PLANT)
    same_port = {d.id: configs.TcpAddress("127.0.0.1", 5020, i + 1) for i, d in enumerate(plant.devices)}
    gateway = configs.gateway_config(plant, same_port, _services(tmp_path))
    assert list(gateway["connections"]) == ["tcp-5020"]
    assert [d["unit"] for d in gateway["devices"]] == list(range(1, len(plant.devices) + 1))


def test_endpoints_are_read_only_once_ready_follows_them() -> None:
    line = json.dumps({"endpoints": {
        "m1": {"host": "127.0.0.1", "port": 5021, "unit_id": 3},
        "s1": {"serial": "/tmp/bus0", "unit_id": 7},
    }})
    assert parse_endpoints(line + "\n", {}) is None
    found = parse_endpoints(f"noise\n{line}\nREADY\n", {"/tmp/bus0": 9600})
    assert found == {
        "m1": configs.TcpAddress("127.0.0.1", 5021, 3),
        "s1": configs.SerialAddress("/tmp/bus0", 7, 9600),
    }


def test_ready_without_endpoints_is_an_error() -> None:
    with pytest.raises(ValueError, match="without an endpoints line"):
        parse_endpoints("READY\n", {})


LEDGER = [
    {"batch_id": "B1", "line": "line1", "product": "p", "energy_kwh": 100.0},
    {"batch_id": "B2", "line": "line2", "product": "p", "energy_kwh": 50.0},
]


def test_a_batch_within_half_a_percent_passes_and_one_beyond_fails() -> None:
    report = [
        {"batch_id": "B1", "energy_kwh": 100.4, "completeness": 1.0, "start_ms": 0, "end_ms": 60_000},
        {"batch_id": "B2", "energy_kwh": 50.3, "completeness": 0.98},
    ]
    rows = compare(report, LEDGER)
    assert [r.within_tolerance for r in rows] == [True, False]
    assert rows[0].error == pytest.approx(0.004)
    assert rows[1].error == pytest.approx(0.006)


def test_a_batch_missing_from_the_report_is_shown_and_fails() -> None:
    rows = compare([{"batch_id": "B1", "energy_kwh": 100.0, "completeness": 1.0}], LEDGER)
    assert rows[1].attributed_kwh is None
    assert not rows[1].within_tolerance
    table = format_table(rows)
    assert "B2" in table.splitlines()[3]
    assert "missing" in table.splitlines()[3]


def test_planned_addresses_give_port_zero_devices_consecutive_ports_in_file_order() -> None:
    plant = load_plant(DEMO_PLANT)
    planned = configs.planned_addresses(plant, 30000, DEMO_PLANT.parent)
    assert list(planned) == [d.id for d in plant.devices]
    assert [a.port for a in planned.values() if isinstance(a, configs.TcpAddress)] == list(
        range(30000, 30000 + configs.tcp_ports_needed(plant))
    )
