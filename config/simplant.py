"""The simulated plant file (`batchmeter-sim run --plant FILE`): sites, lines, devices, schedule.

All durations are simulated seconds; `speed` says how many simulated seconds pass per real
second. The same file and seed give the same plant, reading for reading.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.loader import ConfigError, load_file
from config.profile import load_profile
from config.wire import Name

LINE_STATES = ("idle", "setup", "running", "fault")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Role(StrEnum):
    METER = "meter"
    LINE_CONTROLLER = "line_controller"
    WEIGH_STATION = "weigh_station"
    SCALE = "scale"


class FaultKind(StrEnum):
    NO_RESPONSE = "no_response"
    EXCEPTION = "exception"
    COUNTER_RESET = "counter_reset"
    METER_REPLACEMENT = "meter_replacement"
    ROLLOVER = "rollover"
    ZERO_READ = "zero_read"
    STUCK = "stuck"
    TORN_READ = "torn_read"
    DISCONNECT = "disconnect"


WINDOW_FAULTS = frozenset(
    {FaultKind.NO_RESPONSE, FaultKind.EXCEPTION, FaultKind.ZERO_READ, FaultKind.STUCK,
     FaultKind.TORN_READ, FaultKind.DISCONNECT}
)
"""Faults that change what reads return for a while; the others change the counter once."""

COUNTER_FAULTS = frozenset({FaultKind.COUNTER_RESET, FaultKind.METER_REPLACEMENT, FaultKind.ROLLOVER})


class TcpEndpoint(_Strict):
    port: int = Field(ge=0, le=65535, description="0: pick a free port (or --port-base)")
    unit_id: int = Field(default=1, ge=0, le=247)
    host: str = "127.0.0.1"


class RtuEndpoint(_Strict):
    bus: Name
    unit_id: int = Field(ge=1, le=247)


class RtuBus(_Strict):
    id: Name
    link: str = Field(description="path of the symlink to the pty the agent opens")
    baudrate: int = 19200


class ScrapShare(_Strict):
    share: float = Field(gt=0, le=1, description="share of the batch's scrap mass")
    destination: str


class Product(_Strict):
    unit_mass_kg: float = Field(gt=0, description="material entering per planned unit")
    cell_kwh: float = Field(default=0.0, ge=0, description="cell capacity per good unit")
    yield_: float = Field(alias="yield", gt=0, le=1)
    scrap: dict[str, ScrapShare] = Field(min_length=1, description="category -> share")

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> Self:
        total = sum(s.share for s in self.scrap.values())
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"scrap shares sum to {total}, expected 1")
        return self


class Line(_Strict):
    id: Name
    power_kw: dict[Literal["idle", "setup", "running", "fault"], float] = Field(
        description="the line's electrical load in each state, kW"
    )
    noise: float = Field(default=0.02, ge=0, le=0.5, description="relative std-dev per second")
    start_s: int = Field(default=0, ge=0, description="when the line's first batch may begin")

    @model_validator(mode="after")
    def _every_state(self) -> Self:
        missing = [s for s in LINE_STATES if s not in self.power_kw]
        if missing:
            raise ValueError(f"power_kw lacks states {missing}")
        return self


class Device(_Strict):
    id: Name
    profile: str
    role: Role = Role.METER
    line: Name | None = None
    shared: bool = False
    load_share: float = Field(default=1.0, ge=0, le=1, description="share of the line's load")
    power_kw: float | None = Field(default=None, ge=0, description="shared meters: mean load")
    noise: float = Field(default=0.02, ge=0, le=0.5)
    counter_start_kwh: float = Field(default=0.0, ge=0)
    lines: list[Name] = Field(default_factory=list, description="weigh stations: lines served")
    tcp: TcpEndpoint | None = None
    rtu: RtuEndpoint | None = None

    @model_validator(mode="after")
    def _placement(self) -> Self:
        if (self.tcp is None) == (self.rtu is None):
            raise ValueError("give exactly one of tcp or rtu")
        if self.role is Role.METER and self.shared == (self.line is not None):
            raise ValueError("a meter needs a line or shared: true (not both)")
        if self.role is Role.METER and self.shared and self.power_kw is None:
            raise ValueError("a shared meter needs power_kw")
        if self.role is Role.LINE_CONTROLLER and self.line is None:
            raise ValueError("a line controller needs its line")
        return self


class LineStop(_Strict):
    """The line stops in fault during a run: no output, fault-state power."""

    after_s: int = Field(ge=0, description="running seconds before the stop")
    duration_s: int = Field(ge=1)


class Batch(_Strict):
    batch_id: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+$")]
    product: str
    planned_units: int = Field(ge=1)
    setup_s: int = Field(ge=1)
    run_s: int = Field(ge=1)
    idle_before_s: int = Field(default=60, ge=0)
    stops: list[LineStop] = Field(default_factory=list)

    @property
    def total_s(self) -> int:
        """Simulated seconds from the previous batch's end to this one's: idle, setup, run, stops."""
        return self.idle_before_s + self.setup_s + self.run_s + sum(s.duration_s for s in self.stops)

    @model_validator(mode="after")
    def _stops_inside_the_run(self) -> Self:
        if any(stop.after_s >= self.run_s for stop in self.stops):
            raise ValueError(f"a stop must come before the run ends ({self.run_s} s of running)")
        return self


class Fault(_Strict):
    device: Name
    kind: FaultKind
    at_s: float = Field(ge=0)
    duration_s: float = Field(default=10.0, gt=0, description="window faults")
    code: Literal[1, 2, 3, 4, 5, 6, 7, 8, 10, 11] | None = Field(
        default=None, description="Modbus exception code the device answers with"
    )
    value_kwh: float | None = Field(default=None, ge=0, description="replacement counter start")

    @model_validator(mode="after")
    def _needs(self) -> Self:
        if self.kind is FaultKind.EXCEPTION and self.code is None:
            raise ValueError("an exception fault needs its code (1, 2, 3, 4, 6, ...)")
        if self.kind is FaultKind.METER_REPLACEMENT and self.value_kwh is None:
            raise ValueError("a meter replacement needs value_kwh, the new meter's counter")
        return self


class RandomFaults(_Strict):
    per_hour: float = Field(gt=0, le=3600, description="mean faults per simulated hour, plant-wide")
    kinds: list[FaultKind] = Field(min_length=1)
    devices: list[Name] = Field(min_length=1)
    duration_s: float = Field(default=20.0, gt=0)


class SimPlant(_Strict):
    site: Name
    seed: int = 0
    speed: float = Field(default=1.0, gt=0, le=100_000)
    start: str | None = Field(default=None, description="ISO time of sim second 0; default: now")
    min_ticket_interval_s: int = Field(default=30, ge=1)
    products: dict[str, Product]
    lines: list[Line]
    devices: list[Device]
    rtu_buses: list[RtuBus] = Field(default_factory=list)
    schedule: dict[Name, list[Batch]]
    faults: list[Fault] = Field(default_factory=list)
    random_faults: RandomFaults | None = None

    @model_validator(mode="after")
    def _references(self) -> Self:
        problems = _reference_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def device(self, device_id: str) -> Device:
        return next(d for d in self.devices if d.id == device_id)


def _reference_problems(plant: SimPlant) -> list[str]:
    lines = {ln.id for ln in plant.lines}
    devices = {d.id for d in plant.devices}
    buses = {b.id for b in plant.rtu_buses}
    problems = [f"duplicate device id {d}" for d in devices if sum(x.id == d for x in plant.devices) > 1]
    for d in plant.devices:
        for ln in [d.line, *d.lines]:
            if ln is not None and ln not in lines:
                problems.append(f"devices.{d.id}: unknown line {ln!r} (lines: {sorted(lines)})")
        if d.rtu is not None and d.rtu.bus not in buses:
            problems.append(f"devices.{d.id}: unknown rtu bus {d.rtu.bus!r}")
    for ln, batches in plant.schedule.items():
        if ln not in lines:
            problems.append(f"schedule.{ln}: unknown line")
        problems += [
            f"schedule.{ln}: batch {b.batch_id} has unknown product {b.product!r}"
            for b in batches
            if b.product not in plant.products
        ]
    ids = [b.batch_id for bs in plant.schedule.values() for b in bs]
    problems += [f"schedule: batch id {i} used twice" for i in sorted(set(ids)) if ids.count(i) > 1]
    problems += _endpoint_problems(plant)
    named = [f.device for f in plant.faults] + (plant.random_faults.devices if plant.random_faults else [])
    problems += [f"faults: unknown device {n!r}" for n in sorted(set(named)) if n not in devices]
    return problems


def _endpoint_problems(plant: SimPlant) -> list[str]:
    """Two devices may share a port or a bus (as behind a gateway) but not its unit id."""
    seen: dict[tuple[str, int, int], str] = {}
    problems = []
    for d in plant.devices:
        if d.tcp is not None and d.tcp.port:
            key = (d.tcp.host, d.tcp.port, d.tcp.unit_id)
        elif d.rtu is not None:
            key = (d.rtu.bus, 0, d.rtu.unit_id)
        else:
            continue
        if key in seen:
            problems.append(f"devices.{d.id}: unit id {key[2]} already used by {seen[key]} on {key[0]}")
        seen[key] = d.id
    return problems


def _profile_problems(plant: SimPlant) -> list[str]:
    problems = []
    for d in plant.devices:
        try:
            load_profile(d.profile)
        except (ConfigError, OSError) as exc:
            problems.append(f"devices.{d.id}: profile {d.profile!r}: {exc}")
    return problems


def load_plant(path: str | Path) -> SimPlant:
    """Read and check a plant file, including that every device's profile loads."""
    plant = load_file(SimPlant, path)
    problems = _profile_problems(plant)
    if problems:
        raise ConfigError(str(path), problems)
    return plant
