"""Check one received MQTT message against the wire contract, once, at the edge (pure).

A message is either accepted as typed wire data or refused with a reason from REASONS,
a detail naming what was expected, and, when they can be read, the gateway and seq it
claims, so the refusal can still be acknowledged and not block the gateway's stream.

Readings messages are the hot path (thousands of readings per second), so they are
checked by pydantic's Rust core straight from the raw bytes into plain dicts
(`ReadingsData`, a TypedDict mirroring `config.wire.ReadingsMessage` rule for rule),
not into one frozen model per reading: the wire models cost a Python object and a Python
validator per reading. Events are rare and keep the wire models.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Literal, NotRequired

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from config.cloud import ValidationSettings
from config.wire import (
    EpochMs,
    EventsMessage,
    Name,
    QuantityName,
    ReadingsMessage,
    Seq,
    TopicAddress,
    TopicKind,
    parse_topic,
)

REASONS = (
    "too_large", "bad_topic", "bad_json", "bad_schema", "topic_mismatch", "timestamp",
    "unstorable", "store_rejected",
)
_SEQ_IN_HEAD = re.compile(rb'"seq"\s*:\s*(\d{1,15})\b')
_MAX_SEQ = 2**53
# The wire models' own settings: no extra keys, no NaN/Infinity (this also covers the
# wire's `_finite` validator), and strict types ("7" is not 7).
_WIRE_RULES = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


@with_config(_WIRE_RULES)
class ReadingData(TypedDict):
    """`config.wire.Reading` as validated data; absent keys take the wire model's defaults."""

    device: Name
    ts_ms: EpochMs
    values: NotRequired[dict[QuantityName, float | str]]
    quality: NotRequired[Literal["ok", "stale", "error"]]
    error: NotRequired[Annotated[str, Field(max_length=200)] | None]


@with_config(_WIRE_RULES)
class ReadingsData(TypedDict):
    """`config.wire.ReadingsMessage` as validated data."""

    v: NotRequired[Literal[1]]
    site: Name
    gateway: Name
    seq: Seq
    readings: Annotated[list[ReadingData], Field(max_length=100_000)]


_READINGS = TypeAdapter(ReadingsData)


@dataclass(frozen=True, slots=True)
class Readings:
    """An accepted readings message: one object per message, plain dicts per reading."""

    site: str
    gateway: str
    seq: int
    readings: list[ReadingData]


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str
    detail: str
    address: TopicAddress | None
    seq: int | None

    @property
    def gateway(self) -> str | None:
        return self.address.gateway if self.address else None


WireMessage = Readings | EventsMessage


def check_message(
    topic: str, payload: bytes, received_ms: int, limits: ValidationSettings
) -> WireMessage | Refusal:
    try:
        address = parse_topic(topic)
    except ValueError as exc:
        return Refusal("bad_topic", str(exc), None, None)
    if address.kind not in (TopicKind.READINGS, TopicKind.EVENTS):
        return Refusal("bad_topic", f"topic {topic!r}: expected kind readings or events", address, None)
    if len(payload) > limits.max_payload_bytes:
        detail = f"payload of {len(payload)} bytes exceeds max_payload_bytes {limits.max_payload_bytes}"
        return Refusal("too_large", detail, address, _seq_from_head(payload))
    parsed = _parse(address, payload)
    if isinstance(parsed, Refusal):
        return parsed
    message, expected, times = parsed
    if message.site != address.site or message.gateway != address.gateway:
        return Refusal(
            "topic_mismatch",
            f"{expected} names site {message.site!r} gateway {message.gateway!r}, "
            f"topic names site {address.site!r} gateway {address.gateway!r}",
            address, message.seq,
        )
    problem = _timestamp_problem(times, received_ms, limits)
    if problem:
        return Refusal("timestamp", problem, address, message.seq)
    return message


def _parse(address: TopicAddress, payload: bytes) -> tuple[WireMessage, str, list[int]] | Refusal:
    """The typed message, the wire model's name and its item timestamps, or the refusal."""
    if address.kind is TopicKind.READINGS:
        try:
            data = _READINGS.validate_json(payload)
        except ValidationError as exc:
            return _schema_refusal(exc, ReadingsMessage.__name__, payload, address)
        items = data["readings"]
        readings = Readings(data["site"], data["gateway"], data["seq"], items)
        return readings, ReadingsMessage.__name__, [item["ts_ms"] for item in items]
    try:
        events = EventsMessage.model_validate_json(payload, strict=True)
    except ValidationError as exc:
        return _schema_refusal(exc, EventsMessage.__name__, payload, address)
    return events, EventsMessage.__name__, [event.ts_ms for event in events.events]


def _schema_refusal(exc: ValidationError, expected: str, payload: bytes, address: TopicAddress) -> Refusal:
    errors = exc.errors(include_url=False, include_input=False)
    reason = "bad_json" if errors and errors[0]["type"] == "json_invalid" else "bad_schema"
    where = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(message)'}: {e['msg']}" for e in errors[:3]
    )
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return Refusal(reason, f"not a valid {expected}: {where}{more}", address, _claimed_seq(payload))


def _claimed_seq(payload: bytes) -> int | None:
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        return _seq_from_head(payload)
    seq = data.get("seq") if isinstance(data, dict) else None
    if type(seq) is int and 1 <= seq < _MAX_SEQ:
        return seq
    return None


def _seq_from_head(payload: bytes) -> int | None:
    found = _SEQ_IN_HEAD.search(payload[:4096])
    seq = int(found.group(1)) if found else 0
    return seq if 1 <= seq < _MAX_SEQ else None


def _timestamp_problem(times: list[int], received_ms: int, limits: ValidationSettings) -> str | None:
    if not times:
        return None
    earliest, latest = min(times), max(times)
    if earliest < received_ms - limits.max_past_ms:
        return f"ts_ms {earliest} is more than max_past_ms {limits.max_past_ms} before receipt {received_ms}"
    if latest > received_ms + limits.max_future_ms:
        return f"ts_ms {latest} is more than max_future_ms {limits.max_future_ms} after receipt {received_ms}"
    return None
