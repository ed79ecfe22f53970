"""Wire messages to InfluxDB points (line protocol), pure and deterministic.

The same reading always becomes the same line (measurement, tag set, timestamp, fields),
so a re-delivered message overwrites itself and changes nothing stored. Every line is
written with nanosecond precision: message, reading and event times are whole
milliseconds (suffix `000000`), dead letters keep their receive time in ns.

Site, gateway, device, line and quantity names are already checked against the wire
contract's patterns, which admit no character that needs escaping, so the hot path
joins them as they are; only `time` (a name InfluxDB refuses) is looked for.
"""

from __future__ import annotations

import json

from cloud import lineprotocol as lp
from config.wire import Event, EventsMessage, Quality, ReadingsMessage

MS = "000000"
"""Appended to a millisecond timestamp to make it nanoseconds."""
PAYLOAD_HEAD_BYTES = 4096
_EVENT_TAG_FIELDS = {"kind", "ts_ms", "device", "line"}


def _value(value: float | str) -> str:
    return repr(value) if type(value) is float else lp.field_value(value)


def reading_lines(message: ReadingsMessage) -> list[str]:
    """`reading` points for values, `read_error` points for stale/failed reads, one `message` point."""
    head = f",gateway={message.gateway},site={message.site}"
    out: list[str] = []
    for reading in message.readings:
        ts = f" {reading.ts_ms}{MS}"
        values = reading.values
        if values:
            if "time" in values:
                raise lp.LineProtocolError(f"device {reading.device}: quantity 'time' is reserved")
            fields = ",".join([f"{name}={_value(v)}" for name, v in values.items()])
            out.append(f"reading,device={reading.device}{head} {fields}{ts}")
        if reading.quality is not Quality.OK:
            error = f',error={lp.field_value(reading.error)}' if reading.error is not None else ""
            quality = f'quality="{reading.quality.value}"'
            out.append(f"read_error,device={reading.device}{head} {quality}{error}{ts}")
    out.append(message_line(message.site, message.gateway, "readings", message.seq, len(message.readings)))
    return out


def event_fields(event: Event) -> dict[str, lp.FieldValue]:
    fields: dict[str, lp.FieldValue] = {}
    for name, value in event.model_dump(exclude=_EVENT_TAG_FIELDS).items():
        if value is None:
            continue
        if name == "counters":
            fields[name] = json.dumps(value, sort_keys=True, separators=(",", ":"))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            fields[name] = float(value)
        else:
            fields[name] = str(value)
    return fields


def event_lines(message: EventsMessage) -> list[str]:
    out: list[str] = []
    for event in message.events:
        tags = {"site": message.site, "gateway": message.gateway, "device": event.device, "kind": event.kind,
                "line": getattr(event, "line", None) or ""}
        out.append(lp.line("event", tags, event_fields(event), event.ts_ms * 1_000_000))
    out.append(message_line(message.site, message.gateway, "events", message.seq, len(message.events)))
    return out


def message_line(site: str, gateway: str, topic: str, seq: int, count: int) -> str:
    """The receipt of one message; time = seq as ms, so a replay overwrites and gaps show."""
    fields = f"seq={float(seq)!r},count={float(count)!r}"
    return f"message,gateway={gateway},site={site},topic={topic} {fields} {seq}{MS}"


def dead_letter_line(
    reason: str, collector: str, topic: str, payload: bytes, detail: str, received_ns: int,
    gateway: str | None = None, seq: int | None = None,
) -> str:
    """A refused message or line, kept with the first 4 KiB of what was received."""
    fields: dict[str, lp.FieldValue] = {
        "topic": topic,
        "payload": payload[:PAYLOAD_HEAD_BYTES].decode("utf-8", "replace"),
        "payload_bytes": float(len(payload)),
        "detail": detail[:1000],
    }
    if gateway is not None:
        fields["gateway"] = gateway
    if seq is not None:
        fields["seq"] = float(seq)
    return lp.line("dead_letter", {"reason": reason, "collector": collector}, fields, received_ns)
