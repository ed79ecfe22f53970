"""The wire contract, version 1: MQTT topics and payload models shared by agent and collector.

Frozen and versioned: a breaking change is a new module (`wire_v2`), never an edit here.

Identity rules the whole reliability contract rests on:
- every message carries its gateway's `seq`, unique and increasing per gateway across
  restarts, shared by the readings and events topics; (gateway, seq) identifies a message;
- every reading is identified by (device, quantity, ts_ms); every event by
  (gateway, kind, device, ts_ms).
Timestamps are integer milliseconds since the Unix epoch, UTC, taken at poll time.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

WIRE_VERSION = 1
TOPIC_ROOT = "batchmeter/v1"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
"""Site, gateway, device and line ids: safe in MQTT topics, InfluxDB tags and file names."""

Name = Annotated[str, Field(pattern=NAME_PATTERN)]
QuantityName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
EpochMs = Annotated[int, Field(ge=0, lt=2**53)]
Seq = Annotated[int, Field(ge=1, lt=2**53)]
Value = float | str


class TopicKind(StrEnum):
    READINGS = "readings"
    EVENTS = "events"
    STATUS = "status"
    ACK = "ack"


class TopicAddress(NamedTuple):
    site: str
    gateway: str
    kind: TopicKind


def topic(site: str, gateway: str, kind: TopicKind) -> str:
    return f"{TOPIC_ROOT}/{site}/{gateway}/{kind.value}"


def subscription(kind: TopicKind, share_group: str | None = None) -> str:
    """Filter for `kind` from every site and gateway; `$share/<group>/` splits it over replicas."""
    base = f"{TOPIC_ROOT}/+/+/{kind.value}"
    return f"$share/{share_group}/{base}" if share_group else base


def parse_topic(name: str) -> TopicAddress:
    """Split a topic into its site, gateway and kind; ValueError names what is wrong."""
    parts = name.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != TOPIC_ROOT:
        raise ValueError(f"topic {name!r} is not {TOPIC_ROOT}/<site>/<gateway>/<kind>")
    try:
        kind = TopicKind(parts[4])
    except ValueError:
        raise ValueError(f"topic {name!r}: unknown kind {parts[4]!r}") from None
    return TopicAddress(parts[2], parts[3], kind)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Quality(StrEnum):
    OK = "ok"
    STALE = "stale"
    ERROR = "error"


class Reading(_Frozen):
    """One device's values from one poll. A failed read has quality error and no values."""

    device: Name
    ts_ms: EpochMs
    values: dict[QuantityName, Value] = Field(default_factory=dict)
    quality: Quality = Quality.OK
    error: str | None = Field(default=None, max_length=200)
    """Why the read failed: `timeout`, `exception:<code>`, `disconnected`, `decode:<reason>`."""

    @field_validator("values")
    @classmethod
    def _finite(cls, values: dict[str, Value]) -> dict[str, Value]:
        for name, value in values.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"value of {name} is not a finite number")
        return values


class ReadingsMessage(_Frozen):
    v: Literal[1] = 1
    site: Name
    gateway: Name
    seq: Seq
    readings: list[Reading] = Field(max_length=100_000)


class BatchStarted(_Frozen):
    kind: Literal["batch_started"] = "batch_started"
    ts_ms: EpochMs
    device: Name
    line: Name
    batch_id: Annotated[str, Field(min_length=1, max_length=64)]
    product: str = Field(default="", max_length=64)
    counters: dict[Name, dict[QuantityName, float]] = Field(default_factory=dict)
    """The line's energy counters, read in the same poll cycle: device -> quantity -> value."""


class BatchEnded(_Frozen):
    kind: Literal["batch_ended"] = "batch_ended"
    ts_ms: EpochMs
    device: Name
    line: Name
    batch_id: Annotated[str, Field(min_length=1, max_length=64)]
    product: str = Field(default="", max_length=64)
    good_units: float | None = None
    reject_units: float | None = None
    counters: dict[Name, dict[QuantityName, float]] = Field(default_factory=dict)


class ScrapWeighed(_Frozen):
    kind: Literal["scrap_weighed"] = "scrap_weighed"
    ts_ms: EpochMs
    device: Name
    line: Name | None = None
    weighing_seq: int = Field(ge=0)
    mass_kg: float = Field(ge=0)
    category: str = Field(max_length=64)
    destination: str = Field(max_length=64)
    batch_id: str | None = Field(default=None, max_length=64)


class DeviceFault(_Frozen):
    kind: Literal["device_fault"] = "device_fault"
    ts_ms: EpochMs
    device: Name
    detail: str = Field(max_length=200)


class CounterDiscontinuity(_Frozen):
    kind: Literal["counter_discontinuity"] = "counter_discontinuity"
    ts_ms: EpochMs
    device: Name
    quantity: QuantityName
    before: float
    after: float
    classification: Literal["rollover", "reset", "unexplained"]


Event = Annotated[
    BatchStarted | BatchEnded | ScrapWeighed | DeviceFault | CounterDiscontinuity,
    Field(discriminator="kind"),
]


class EventsMessage(_Frozen):
    v: Literal[1] = 1
    site: Name
    gateway: Name
    seq: Seq
    events: list[Event] = Field(max_length=10_000)


class StatusMessage(_Frozen):
    """Retained on `.../status`: birth `online` on connect, last will `offline`."""

    v: Literal[1] = 1
    site: Name
    gateway: Name
    state: Literal["online", "offline"]
    ts_ms: EpochMs | None = None
    health: dict[str, float | str] = Field(default_factory=dict)


class AckMessage(_Frozen):
    """Collector to gateway on `.../ack`: these seqs are stored in InfluxDB; delete them.

    Ranges are inclusive [first, last] pairs, so a flush of thousands of messages is small.
    """

    v: Literal[1] = 1
    gateway: Name
    ranges: list[tuple[Seq, Seq]] = Field(max_length=100_000)

    def seqs(self) -> list[int]:
        return [s for first, last in self.ranges for s in range(first, last + 1)]


def seq_ranges(seqs: list[int] | set[int]) -> list[tuple[int, int]]:
    """Compress seq numbers into inclusive, sorted ranges."""
    ranges: list[tuple[int, int]] = []
    for s in sorted(set(seqs)):
        if ranges and s == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], s)
        else:
            ranges.append((s, s))
    return ranges
