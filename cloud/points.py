"""Wire messages to InfluxDB points (line protocol), pure and deterministic.

The same reading always becomes the same line (measurement, tag set, timestamp, fields),
so a re-delivered message overwrites itself and changes nothing stored. Every line is
written with nanosecond precision: message, reading and event times are whole
milliseconds (suffix `000000`), dead letters keep their receive time in ns.

Readings are the hot path: the escaped prefix of each series (measurement and tags) is
built once per (site, gateway, device) and each field key once per quantity name, by the
same `cloud.lineprotocol` functions every other point uses, so `time` and any name the
line protocol cannot carry are refused there, once.
"""

from __future__ import annotations

import json
from typing import cast

from cloud import lineprotocol as lp
from cloud.lineprotocol import float_texts
from cloud.validation import ReadingData, Readings
from config.wire import Event, EventsMessage, ReadingsMessage

NS_PER_MS = 1_000_000
PAYLOAD_HEAD_BYTES = 4096
_EVENT_TAG_FIELDS = {"kind", "ts_ms", "device", "line"}
_CACHE_LIMIT = 100_000


class _FieldKeys(dict[str, str]):
    """Quantity name -> `name=`, escaped and checked once per name, not once per value."""

    def __missing__(self, name: str) -> str:
        if len(self) >= _CACHE_LIMIT:
            self.clear()  # names come from the wire: bound what a gateway can make us hold
        text = self[name] = lp.key(name, "field key") + "="
        return text


class _SeriesHeads(dict[str, str]):
    """Device -> `reading,device=..,gateway=..,site=.. ` for one (site, gateway)."""

    def __init__(self, site: str, gateway: str) -> None:
        super().__init__()
        self._tags = {"site": site, "gateway": gateway}

    def __missing__(self, device: str) -> str:
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        text = self[device] = "reading" + lp.tag_set({**self._tags, "device": device}) + " "
        return text


class ReadingLines:
    """Readings to lines, with the escaped text of every series and field key made once.

    Produces exactly what `lp.line` produces for the same point (a property test holds
    the two together); it only avoids redoing the escaping for every reading.
    """

    def __init__(self) -> None:
        self._keys = _FieldKeys()
        self._fields: dict[tuple[str, ...], str] = {}
        """Quantity names of a reading -> `k1=%s,k2=%s`, its field set as a % template."""
        self._templates: dict[tuple[str, ...], str] = {}
        """(site, gateway, device, *quantity names) -> the whole line as a % template:
        `reading,<tags> k1=%s,k2=%s %d` (the time in ns)."""
        self._heads: dict[tuple[str, str], _SeriesHeads] = {}
        self._receipts: dict[tuple[str, str], str] = {}

    def lines(self, message: Readings) -> list[str]:
        """`reading` points for values, `read_error` points for stale/failed reads, one `message` point."""
        site, gateway, readings = message.site, message.gateway, message.readings
        templates = self._templates
        out: list[str] = []
        append = out.append
        for reading in readings:
            values = reading.get("values")
            if values:
                # inline on purpose: this loop runs once per reading. Values are float | str
                # (the wire's types); all-float readings, the usual case, are formatted by one
                # `%` on a template cached per device and set of quantity names, their floats
                # by one `float_texts` call (the floats' text is most of what this loop costs)
                key = (site, gateway, reading["device"], *values)
                template = templates.get(key) or self._template(key)
                numbers = (*values.values(),)
                for number in numbers:
                    if number.__class__ is str:
                        append(self._mixed_line(site, gateway, reading, values))
                        break
                else:
                    floats = cast("tuple[float, ...]", numbers)  # no str among them: checked above
                    append(template % (*float_texts(floats), reading["ts_ms"] * NS_PER_MS))
            if "quality" in reading and reading["quality"] != "ok":
                append(self._error_line(message, reading))
        seq = message.seq
        append(self._receipt(site, gateway) % (float(seq), float(len(readings)), seq * NS_PER_MS))
        return out

    def _template(self, key: tuple[str, ...]) -> str:
        if len(self._templates) >= _CACHE_LIMIT:
            self._templates.clear()
        site, gateway, device, *names = key
        head = self._series(site, gateway)[device].replace("%", "%%")
        text = self._templates[key] = f"{head}{self._field_template(tuple(names))} %d"
        return text

    def _field_template(self, names: tuple[str, ...]) -> str:
        text = self._fields.get(names)
        if text is None:
            if len(self._fields) >= _CACHE_LIMIT:
                self._fields.clear()
            keys = self._keys  # escapes and checks each name (refusing `time`) before caching
            text = self._fields[names] = ",".join([keys[name].replace("%", "%%") + "%s" for name in names])
        return text

    def _mixed_line(self, site: str, gateway: str, reading: ReadingData,
                    values: dict[str, float | str]) -> str:
        head = self._series(site, gateway)[reading["device"]]
        return f"{head}{self._mixed_fields(values)} {reading['ts_ms'] * NS_PER_MS}"

    def _receipt(self, site: str, gateway: str) -> str:
        """`message_line` of a readings message as a % template of (seq, count, seq as ns)."""
        text = self._receipts.get((site, gateway))
        if text is None:
            if len(self._receipts) >= _CACHE_LIMIT:
                self._receipts.clear()
            prefix = _message_series(site, gateway, "readings").replace("%", "%%")
            text = self._receipts[(site, gateway)] = prefix + " seq=%r,count=%r %d"
        return text

    def _mixed_fields(self, values: dict[str, float | str]) -> str:
        keys = self._keys
        return ",".join([keys[name] + lp.field_value(value) for name, value in values.items()])

    def _series(self, site: str, gateway: str) -> _SeriesHeads:
        heads = self._heads.get((site, gateway))
        if heads is None:
            if len(self._heads) >= _CACHE_LIMIT:
                self._heads.clear()
            heads = self._heads[(site, gateway)] = _SeriesHeads(site, gateway)
        return heads

    def _error_line(self, message: Readings, reading: ReadingData) -> str:
        # rare (a stale or failed read): built by the reference functions, no cache
        tags = {"site": message.site, "gateway": message.gateway, "device": reading["device"]}
        fields: dict[str, lp.FieldValue] = {"quality": reading.get("quality", "ok")}
        error = reading.get("error")
        if error is not None:
            fields["error"] = error
        return lp.line("read_error", tags, fields, reading["ts_ms"] * NS_PER_MS)


def as_readings(message: ReadingsMessage) -> Readings:
    """A wire model as the collector's validated form (for callers holding models)."""
    data = [cast(ReadingData, r.model_dump(mode="json", exclude_defaults=True)) for r in message.readings]
    return Readings(message.site, message.gateway, message.seq, data)


def reading_lines(message: ReadingsMessage | Readings) -> list[str]:
    """The lines of one readings message (see `ReadingLines.lines`)."""
    if isinstance(message, ReadingsMessage):
        message = as_readings(message)
    return ReadingLines().lines(message)


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
        out.append(lp.line("event", tags, event_fields(event), event.ts_ms * NS_PER_MS))
    out.append(message_line(message.site, message.gateway, "events", message.seq, len(message.events)))
    return out


def _message_series(site: str, gateway: str, topic: str) -> str:
    return lp.measurement("message") + lp.tag_set({"site": site, "gateway": gateway, "topic": topic})


def message_line(site: str, gateway: str, topic: str, seq: int, count: int) -> str:
    """The receipt of one message; time = seq as ms, so a replay overwrites and gaps show."""
    fields = lp.field_set({"seq": float(seq), "count": float(count)})
    return f"{_message_series(site, gateway, topic)} {fields} {seq * NS_PER_MS}"


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
