"""Derive the gateway, cloud and plant-model configs from a simulated plant file (pure).

The simulated plant is the one place the harness's world is declared; everything the agent
and the cloud need follows from it and from where the simulator and servers listen. Each
derived file is loaded back through its own model so a drift between this code and a part's
config model shows up as a ConfigError naming file, key and line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from config.plant import Route
from config.simplant import Role, SimPlant

GATEWAY_ID = "gw1"
DESTINATION_ALIASES = {"hazardous": Route.HAZARDOUS_TREATMENT, "rework": Route.INTERNAL_REWORK}
"""Simulator destination labels that are not route names themselves."""


@dataclass(frozen=True)
class TcpAddress:
    host: str
    port: int
    unit: int


@dataclass(frozen=True)
class SerialAddress:
    link: str
    unit: int
    baudrate: int


DeviceAddress = TcpAddress | SerialAddress


@dataclass(frozen=True)
class Services:
    """Where the harness's servers listen and where per-run files go."""

    mqtt_host: str
    mqtt_port: int
    influx_url: str
    influx_database: str
    workdir: Path
    api_port: int
    metrics_port: int
    poll_interval_s: float
    api_token: str = "harness-token"


def _connection_name(address: DeviceAddress) -> str:
    if isinstance(address, TcpAddress):
        return f"tcp-{address.port}"
    return "rtu-" + Path(address.link).name


# The agent starts before the simulator answers; a short backoff cap makes its first good
# poll follow the simulator's READY within a second instead of up to a minute.
_LINK = {"timeout": 1.0, "retries": 1, "backoff_max": 1.0}


def _connection(address: DeviceAddress) -> dict[str, Any]:
    if isinstance(address, TcpAddress):
        return {"type": "tcp", "host": address.host, "port": address.port, **_LINK}
    return {"type": "rtu", "port": address.link, "baudrate": address.baudrate, **_LINK}


def planned_addresses(plant: SimPlant, port_base: int, plant_dir: Path) -> dict[str, DeviceAddress]:
    """Where `batchmeter-sim --port-base` will serve each device: port-0 devices get consecutive
    ports from the base, in file order (checked against the simulator's own endpoints line)."""
    addresses: dict[str, DeviceAddress] = {}
    next_port = port_base
    for device in plant.devices:
        if device.tcp is not None:
            port = device.tcp.port
            if port == 0:
                port, next_port = next_port, next_port + 1
            addresses[device.id] = TcpAddress(device.tcp.host, port, device.tcp.unit_id)
        elif device.rtu is not None:
            bus = next(b for b in plant.rtu_buses if b.id == device.rtu.bus)
            link = bus.link if Path(bus.link).is_absolute() else str(plant_dir / bus.link)
            addresses[device.id] = SerialAddress(link, device.rtu.unit_id, bus.baudrate)
    return addresses


def tcp_ports_needed(plant: SimPlant) -> int:
    return sum(1 for d in plant.devices if d.tcp is not None and d.tcp.port == 0)


def gateway_config(plant: SimPlant, addresses: Mapping[str, DeviceAddress], svc: Services) -> dict[str, Any]:
    """One gateway polling every device of the simulated plant."""
    devices = []
    for device in plant.devices:
        address = addresses[device.id]
        entry: dict[str, Any] = {
            "id": device.id,
            "connection": _connection_name(address),
            "unit": address.unit,
            "profile": device.profile,
            "poll_interval": svc.poll_interval_s,
        }
        if device.line is not None:
            entry["line"] = device.line
        if device.shared:
            entry["shared"] = True
        devices.append(entry)
    return {
        "site": plant.site,
        "gateway": GATEWAY_ID,
        # A short resend keeps the harness's end-of-run wait short after any lost ack.
        "mqtt": {"host": svc.mqtt_host, "port": svc.mqtt_port, "resend_after": 3.0, "status_every": 2.0},
        "outbox": {"path": str(svc.workdir / "outbox.sqlite")},
        "health_port": None,
        "connections": {_connection_name(a): _connection(a) for a in addresses.values()},
        "devices": devices,
    }


def _meters(plant: SimPlant, poll_interval_s: float) -> list[dict[str, Any]]:
    meters = []
    for device in plant.devices:
        if device.role is not Role.METER:
            continue
        meter: dict[str, Any] = {"id": device.id, "poll_interval_s": poll_interval_s}
        if device.shared:
            meter.update(shared=True, allocation="runtime")
        else:
            meter["line"] = device.line
        meters.append(meter)
    return meters


def _scrap(plant: SimPlant) -> dict[str, Any]:
    categories = sorted({c for p in plant.products.values() for c in p.scrap})
    destinations = sorted({s.destination for p in plant.products.values() for s in p.scrap.values()})
    known = {r.value: r for r in Route} | DESTINATION_ALIASES
    routes = {d: known[d].value for d in destinations if d in known}
    return {"categories": categories, "destinations": routes}


def plant_model(plant: SimPlant, poll_interval_s: float) -> dict[str, Any]:
    """Lines and their meters, shared meters split by runtime, products, two factor sets."""
    return {
        "site": plant.site,
        "lines": [{"id": line.id} for line in plant.lines],
        "meters": _meters(plant, poll_interval_s),
        "products": {
            name: ({"cell_kwh": p.cell_kwh} if p.cell_kwh > 0 else {}) for name, p in plant.products.items()
        },
        "factor_sets": [
            {"name": "grid-eu", "version": "ember-2024", "basis": "location", "default": {"grid": "EU"}},
            {"name": "market", "version": "demo-1", "basis": "market",
             "default": {"g_per_kwh": 300.0}, "routes": {"grid": {"g_per_kwh": 300.0}}},
        ],
        "scrap": _scrap(plant),
    }


def cloud_config(svc: Services, plant_file: str = "plant.yaml") -> dict[str, Any]:
    return {
        "mqtt": {"host": svc.mqtt_host, "port": svc.mqtt_port, "client_id": "harness-collector-{pid}"},
        "influx": {"url": svc.influx_url, "database": svc.influx_database},
        "batching": {"max_age_ms": 200},
        "metrics": {"port": svc.metrics_port},
        "api": {"port": svc.api_port, "tokens": [svc.api_token]},
        "plant_file": plant_file,
    }


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
