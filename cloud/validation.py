"""Check one received MQTT message against the wire contract, once, at the edge (pure).

A message is either accepted as a typed wire model or refused with a reason from REASONS,
a detail naming what was expected, and, when they can be read, the gateway and seq it
claims, so the refusal can still be acknowledged and not block the gateway's stream.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pydantic import ValidationError

from config.cloud import ValidationSettings
from config.wire import EventsMessage, ReadingsMessage, TopicAddress, TopicKind, parse_topic

REASONS = (
    "too_large", "bad_topic", "bad_json", "bad_schema", "topic_mismatch", "timestamp",
    "unstorable", "store_rejected",
)
_SEQ_IN_HEAD = re.compile(rb'"seq"\s*:\s*(\d{1,15})\b')
_MAX_SEQ = 2**53


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str
    detail: str
    address: TopicAddress | None
    seq: int | None

    @property
    def gateway(self) -> str | None:
        return self.address.gateway if self.address else None


WireMessage = ReadingsMessage | EventsMessage


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
    model = ReadingsMessage if address.kind is TopicKind.READINGS else EventsMessage
    try:
        message: WireMessage = model.model_validate_json(payload, strict=True)
    except ValidationError as exc:
        return _schema_refusal(exc, model.__name__, payload, address)
    if message.site != address.site or message.gateway != address.gateway:
        return Refusal(
            "topic_mismatch",
            f"{model.__name__} names site {message.site!r} gateway {message.gateway!r}, "
            f"topic names site {address.site!r} gateway {address.gateway!r}",
            address, message.seq,
        )
    problem = _timestamp_problem(message, received_ms, limits)
    if problem:
        return Refusal("timestamp", problem, address, message.seq)
    return message


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


def _timestamp_problem(message: WireMessage, received_ms: int, limits: ValidationSettings) -> str | None:
    items = message.readings if isinstance(message, ReadingsMessage) else message.events
    if not items:
        return None
    earliest = min(item.ts_ms for item in items)
    latest = max(item.ts_ms for item in items)
    if earliest < received_ms - limits.max_past_ms:
        return f"ts_ms {earliest} is more than max_past_ms {limits.max_past_ms} before receipt {received_ms}"
    if latest > received_ms + limits.max_future_ms:
        return f"ts_ms {latest} is more than max_future_ms {limits.max_future_ms} after receipt {received_ms}"
    return None
