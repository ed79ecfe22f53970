"""The plant model for attribution: lines, meters, shared loads, products, emission factors, scrap.

Declared, not computed: which meter feeds which line, how shared meters are split, which
factor sets apply, where scrap goes and which counter breaks were declared by people.
Read with `load_plant(path)`, which also resolves `grid:` factors from config/data.
"""

from __future__ import annotations

import csv
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from config.loader import ConfigError, load_file
from config.wire import Name, QuantityName

GRID_FACTORS_FILE = Path(__file__).parent / "data" / "grid_factors_ember_2024.csv"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


class Allocation(StrEnum):
    RUNTIME = "runtime"
    """Equal share for every batch running in an interval (runtime share)."""
    UNITS = "units"
    """Share by units produced in the interval (the batch's units spread over its runtime)."""
    FIXED = "fixed"
    """A fixed share per line, given to the batch running on that line; otherwise idle."""


class Meter(_Strict):
    id: Name
    line: Name | None = Field(default=None, description="the line this meter feeds alone")
    shared: bool = False
    allocation: Allocation = Allocation.RUNTIME
    serves: list[Name] = Field(default_factory=list, description="shared: lines served; empty = all")
    shares: dict[Name, float] = Field(default_factory=dict, description="fixed allocation: line -> share")
    quantity: QuantityName = "energy_import_kwh"
    rollover_kwh: float | None = Field(default=None, gt=0, description="counter wraps to 0 at this value")
    poll_interval_s: float = Field(default=10.0, gt=0, description="expected time between readings")
    max_power_kw: float | None = Field(
        default=None, gt=0, description="an increase faster than this is an unexplained jump"
    )
    supply: str = Field(default="grid", description="supply route, looked up in market factor sets")

    @model_validator(mode="after")
    def _placement(self) -> Self:
        if self.shared == (self.line is not None):
            raise ValueError("a meter needs a line or shared: true (not both)")
        if self.allocation is Allocation.FIXED:
            if not self.shares:
                raise ValueError("fixed allocation needs shares (line -> share)")
            if sum(self.shares.values()) > 1 + 1e-9 or min(self.shares.values()) < 0:
                raise ValueError("fixed shares must be >= 0 and sum to at most 1")
        return self


class Product(_Strict):
    name: str = ""
    cell_kwh: float | None = Field(default=None, gt=0, description="capacity per good unit, kWh")


class FactorStep(_Strict):
    from_: AwareDatetime = Field(alias="from")
    g_per_kwh: float = Field(ge=0)


class Factor(_Strict):
    """Emission factor in gCO2e/kWh: a constant, a national grid code, or a time series."""

    g_per_kwh: float | None = Field(default=None, ge=0)
    grid: str | None = Field(default=None, description="code in config/data/grid_factors_ember_2024.csv")
    series: list[FactorStep] = Field(default_factory=list, description="steps, each valid from its time")

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if bool(self.series) == (self.g_per_kwh is not None or self.grid is not None):
            raise ValueError("give g_per_kwh or grid, or a series (exactly one kind)")
        return self

    def steps_ms(self) -> list[tuple[int, float]]:
        """(valid from ms, g/kWh), sorted; a constant is one step valid from 0."""
        if self.series:
            return sorted((epoch_ms(s.from_), s.g_per_kwh) for s in self.series)
        if self.g_per_kwh is None:
            raise ValueError(f"grid factor {self.grid!r} was not resolved (load with load_plant)")
        return [(0, self.g_per_kwh)]


class FactorSet(_Strict):
    """A named, versioned set: location-based (grid mix) or market-based (contracts, on-site)."""

    name: Name
    version: str = Field(min_length=1)
    basis: Literal["location", "market"]
    default: Factor = Field(description="grid mix (location) or residual mix (market)")
    routes: dict[str, Factor] = Field(default_factory=dict, description="market: supply route -> factor")


class Route(StrEnum):
    REUSE = "reuse"
    INTERNAL_REWORK = "internal_rework"
    RECYCLING = "recycling"
    COMPOSTING = "composting"
    ENERGY_RECOVERY = "energy_recovery"
    INCINERATION = "incineration"
    LANDFILL = "landfill"
    HAZARDOUS_TREATMENT = "hazardous_treatment"


UL2799_DIVERTED = frozenset(
    {Route.REUSE, Route.INTERNAL_REWORK, Route.RECYCLING, Route.COMPOSTING, Route.ENERGY_RECOVERY}
)
"""UL 2799 counts waste-to-energy as diverted (at most 10 points of the rate)."""
TRUE_DIVERTED = UL2799_DIVERTED - {Route.ENERGY_RECOVERY}
"""TRUE (GBCI) does not count waste-to-energy as diversion."""


class Scrap(_Strict):
    categories: list[str] = Field(default_factory=list, description="known categories; others alarm")
    destinations: dict[str, Route] = Field(
        default_factory=dict, description="ticket destination -> route; route names map to themselves"
    )
    grace_s: int = Field(default=3600, ge=0, description="weighings this long after a batch belong to it")

    def route(self, destination: str) -> Route | None:
        if destination in self.destinations:
            return self.destinations[destination]
        return Route(destination) if destination in Route.__members__.values() else None


class DeclaredDiscontinuity(_Strict):
    """A counter break people declared: a reset or a meter swap, with the new counter start."""

    meter: Name
    at: AwareDatetime
    kind: Literal["reset", "replacement"]
    by: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    new_start_kwh: float = Field(ge=0)
    old_final_kwh: float | None = Field(default=None, ge=0, description="last value of the old counter")


class Line(_Strict):
    id: Name
    name: str = ""


class PlantModel(_Strict):
    site: Name | None = None
    lines: list[Line] = Field(min_length=1)
    meters: list[Meter] = Field(min_length=1)
    products: dict[str, Product] = Field(default_factory=dict)
    factor_sets: list[FactorSet] = Field(default_factory=list)
    scrap: Scrap = Field(default_factory=Scrap)
    discontinuities: list[DeclaredDiscontinuity] = Field(default_factory=list)
    gap_factor: float = Field(default=2.5, gt=1, description="a gap is this many poll intervals without data")
    glitch_max_samples: Annotated[int, Field(ge=1, le=20)] = 3

    @model_validator(mode="after")
    def _references(self) -> Self:
        problems = _reference_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def meter(self, meter_id: str) -> Meter:
        return next(m for m in self.meters if m.id == meter_id)


def _reference_problems(plant: PlantModel) -> list[str]:
    lines = {ln.id for ln in plant.lines}
    meters = [m.id for m in plant.meters]
    problems = [f"meters: id {m} used twice" for m in sorted(set(meters)) if meters.count(m) > 1]
    for m in plant.meters:
        named = ([m.line] if m.line else []) + m.serves + list(m.shares)
        problems += [f"meters.{m.id}: unknown line {ln!r} (lines: {sorted(lines)})" for ln in named
                     if ln not in lines]
    problems += [f"discontinuities: unknown meter {d.meter!r}" for d in plant.discontinuities
                 if d.meter not in meters]
    names = [s.name for s in plant.factor_sets]
    problems += [f"factor_sets: name {n} used twice" for n in sorted(set(names)) if names.count(n) > 1]
    return problems


def read_grid_factors(path: Path = GRID_FACTORS_FILE) -> dict[str, float]:
    """Grid code -> gCO2e/kWh from the attributed Ember CSV (lines starting with # are notes)."""
    with path.open(encoding="utf-8") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return {row["code"]: float(row["g_co2e_per_kwh"]) for row in rows}


def _resolve(factor: Factor, table: dict[str, float], where: str, problems: list[str]) -> Factor:
    if factor.grid is None or factor.g_per_kwh is not None:
        return factor
    if factor.grid not in table:
        problems.append(f"{where}.grid: unknown grid code {factor.grid!r} (known: {sorted(table)})")
        return factor
    return factor.model_copy(update={"g_per_kwh": table[factor.grid]})


def load_plant(path: str | Path, grid_factors: Path = GRID_FACTORS_FILE) -> PlantModel:
    """Read a plant model file and resolve `grid:` factors; ConfigError names file and key."""
    plant = load_file(PlantModel, path)
    table = read_grid_factors(grid_factors)
    problems: list[str] = []
    sets = []
    for i, fs in enumerate(plant.factor_sets):
        where = f"factor_sets.{i}"
        default = _resolve(fs.default, table, f"{where}.default", problems)
        routes = {k: _resolve(v, table, f"{where}.routes.{k}", problems) for k, v in fs.routes.items()}
        sets.append(fs.model_copy(update={"default": default, "routes": routes}))
    if problems:
        raise ConfigError(str(path), problems)
    return plant.model_copy(update={"factor_sets": sets})
