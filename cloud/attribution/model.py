"""Result models of the attribution engine; the API, dashboard and reports consume these.

Kept stable: add optional fields, never rename or remove (the dashboard reads them).
Energies are kWh, masses kg, CO2e kg, times integer ms UTC.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DiscontinuityKind = Literal["rollover", "declared_reset", "replacement", "glitch", "unexplained"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Discontinuity(_Frozen):
    """A break in a meter's counter and how it was bridged."""

    meter: str
    ts_ms: int
    before: float
    after: float
    kind: DiscontinuityKind
    counted_kwh: float = Field(description="energy credited across the break (0 for glitch/unexplained)")
    detail: str = ""


class Gap(_Frozen):
    """A stretch longer than the gap limit without a reading of one meter, inside the window."""

    meter: str
    from_ms: int
    to_ms: int


class MeterCompleteness(_Frozen):
    meter: str
    expected: int
    present: int
    share: float = Field(ge=0, le=1)
    gaps: list[Gap] = Field(default_factory=list)


class BatchResult(_Frozen):
    """Everything attributed to one batch; `detail` of a `batch_result` point in InfluxDB."""

    batch_id: str
    line: str
    product: str
    start_ms: int
    end_ms: int
    energy_kwh: float = Field(description="the line's own meters; shared loads excluded")
    energy_by_meter_kwh: dict[str, float] = Field(description="own meter id -> kWh")
    shared_energy_kwh: float
    shared_by_meter_kwh: dict[str, float] = Field(default_factory=dict)
    co2e_kg_location: float
    co2e_kg_market: float
    co2e_kg_by_factor_set: dict[str, float] = Field(
        default_factory=dict, description="factor set name -> kg CO2e (own + shared energy)"
    )
    factor_sets: dict[str, str] = Field(default_factory=dict, description="factor set name -> version")
    good_units: float | None = None
    reject_units: float | None = None
    kwh_per_good_unit: float | None = None
    kwh_per_cell_kwh: float | None = Field(default=None, description="(own + shared) per kWh of capacity")
    scrap_kg: dict[str, float] = Field(default_factory=dict, description="category -> kg")
    scrap_by_destination_kg: dict[str, float] = Field(default_factory=dict)
    scrap_total_kg: float = 0.0
    diversion_rate: float | None = Field(default=None, description="UL 2799: diverted incl. energy recovery")
    diversion_rate_true: float | None = Field(default=None, description="TRUE: energy recovery not diverted")
    energy_recovery_kg: float = 0.0
    completeness: float = Field(ge=0, le=1)
    completeness_by_meter: dict[str, MeterCompleteness] = Field(default_factory=dict)
    discontinuities: list[Discontinuity] = Field(default_factory=list)
    alarms: list[str] = Field(default_factory=list)
    algorithm_version: str
    computed_at_ms: int
    revision: int = 1


class MeterBalance(_Frozen):
    """Per meter over the computed period: attributed + idle = measured (exact before rounding)."""

    meter: str
    measured_kwh: float
    attributed_kwh: float
    idle_kwh: float


AggregateKey = Literal["product", "line", "day", "month"]


class Aggregate(_Frozen):
    """Sums over the batches sharing one key value (a product, a line, a UTC day or month)."""

    by: AggregateKey
    key: str
    batches: int
    energy_kwh: float
    shared_energy_kwh: float
    co2e_kg_location: float
    co2e_kg_market: float
    good_units: float
    reject_units: float
    kwh_per_good_unit: float | None
    scrap_total_kg: float
    scrap_kg: dict[str, float]
    diversion_rate: float | None
    diversion_rate_true: float | None
    completeness: float = Field(ge=0, le=1, description="the lowest batch completeness in the group")
    alarms: int


class BatchSummary(_Frozen):
    """The numbers of one stored result, read from its own `batch_result` fields for lists.

    A list of a thousand batches needs these only; the whole `BatchResult` (its `detail`)
    is parsed for one batch's full view. Fields added later are None on older points.
    """

    batch_id: str
    line: str
    product: str
    start_ms: int
    end_ms: int
    energy_kwh: float
    shared_energy_kwh: float
    co2e_kg_location: float
    co2e_kg_market: float
    completeness: float = Field(ge=0, le=1)
    scrap_total_kg: float = 0.0
    alarms: int = Field(default=0, description="how many alarms the result carries")
    good_units: float | None = None
    reject_units: float | None = None
    kwh_per_good_unit: float | None = None
    kwh_per_cell_kwh: float | None = None
    diversion_rate: float | None = None
    diversion_rate_true: float | None = None
    energy_recovery_kg: float | None = None
    revision: int = 1
    computed_at_ms: int = 0
