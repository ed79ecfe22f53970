"""The collector's fast paths agree with the reference ones they replace.

- `points.ReadingLines` (cached series prefixes and field keys) writes exactly the lines
  that `lineprotocol.line` writes point by point, or refuses exactly what it refuses;
- `validation.check_message` (pydantic's Rust core into TypedDicts) accepts exactly what the
  wire model `ReadingsMessage` accepts, and what it accepts maps to the same lines.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cloud import lineprotocol as lp
from cloud import points
from cloud.validation import ReadingData, Readings, Refusal, check_message
from config.cloud import ValidationSettings
from config.wire import ReadingsMessage, TopicKind, topic

WIRE_NAME = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.\-]{0,10}\Z")
QUANTITY = st.from_regex(r"\A[a-z][a-z0-9_]{0,6}\Z") | st.just("time")
ANY_NAME = st.text(max_size=8) | WIRE_NAME
FINITE = st.floats(allow_nan=False, allow_infinity=False)
VALUE = FINITE | st.text(max_size=8)
QUALITY = st.sampled_from(["ok", "stale", "error"])


def reference_lines(message: Readings) -> list[str]:
    """The readings as `lp.line` writes them, point by point, with nothing cached."""
    out: list[str] = []
    for r in message.readings:
        tags = {"site": message.site, "gateway": message.gateway, "device": r["device"]}
        ts = r["ts_ms"] * 1_000_000
        if r.get("values"):
            out.append(lp.line("reading", tags, dict(r["values"]), ts))
        if r.get("quality", "ok") != "ok":
            fields: dict[str, lp.FieldValue] = {"quality": r.get("quality", "ok")}
            error = r.get("error")
            if error is not None:
                fields["error"] = error
            out.append(lp.line("read_error", tags, fields, ts))
    count = float(len(message.readings))
    out.append(lp.line("message", {"site": message.site, "gateway": message.gateway, "topic": "readings"},
                       {"seq": float(message.seq), "count": count}, message.seq * 1_000_000))
    return out


@st.composite
def reading(draw: st.DrawFn, names: st.SearchStrategy[str]) -> ReadingData:
    data: dict[str, Any] = {"device": draw(names), "ts_ms": draw(st.integers(0, 2**53 - 1))}
    values = draw(st.dictionaries(names | QUANTITY, VALUE, max_size=4))
    keep_empty: bool = draw(st.booleans())
    if values or keep_empty:
        data["values"] = values
    if draw(st.booleans()):
        data["quality"] = draw(QUALITY)
        data["error"] = draw(st.none() | st.text(max_size=20))
    return data  # type: ignore[return-value]


def outcome(build: Any, message: Readings | ReadingsMessage) -> list[str] | str:
    try:
        return list(build(message))
    except lp.LineProtocolError:
        return "refused"


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(ANY_NAME, ANY_NAME, st.integers(1, 2**53 - 1),
                          st.lists(reading(ANY_NAME), max_size=5)), min_size=1, max_size=4))
@example([("", "", 1, [{"device": "", "ts_ms": 0, "values": {"0": 0.0}}])])  # a time of 0 ms is 0 ns
def test_the_cached_builder_writes_what_the_reference_escaping_writes(
    messages: list[tuple[str, str, int, list[ReadingData]]],
) -> None:
    builder = points.ReadingLines()  # one builder for all: later messages hit its caches
    for site, gateway, seq, readings in messages:
        message = Readings(site, gateway, seq, readings)
        assert outcome(builder.lines, message) == outcome(reference_lines, message)


@st.composite
def wire_reading(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly valid readings, with every kind of breakage the wire model must refuse."""
    good: dict[str, Any] = dict(draw(reading(WIRE_NAME.filter(lambda n: n != "time") | QUANTITY)))
    breakage = draw(st.sampled_from(["none"] * 6 + [
        "nan", "bad_name", "str_ts", "negative_ts", "huge_ts", "extra", "long_error", "bad_quality",
        "list_value", "int_value", "bool_value", "missing_device", "null_values", "bad_key",
    ]))
    breaks: dict[str, dict[str, Any]] = {
        "none": {}, "nan": {"values": {"q": float("inf")}}, "bad_name": {"device": "m 1"},
        "str_ts": {"ts_ms": "5"}, "negative_ts": {"ts_ms": -1}, "huge_ts": {"ts_ms": 2**53},
        "extra": {"unit": "W"}, "long_error": {"error": "x" * 201}, "bad_quality": {"quality": "OK"},
        "list_value": {"values": {"q": [1.0]}}, "int_value": {"values": {"q": 7}},
        "bool_value": {"values": {"q": True}}, "null_values": {"values": None},
        "bad_key": {"values": {"Q": 1.0}},
    }
    fix = breaks.get(breakage, {})
    good.update(fix)
    if breakage == "missing_device":
        del good["device"]
    return good


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_validation_accepts_exactly_what_the_wire_model_accepts(data: st.DataObject) -> None:
    readings = data.draw(st.lists(wire_reading(), max_size=2))
    seq = data.draw(st.sampled_from([1, 1, 1, 2, 0]))
    body: dict[str, Any] = {"site": "s1", "gateway": "gw1", "seq": seq, "readings": readings}
    if data.draw(st.booleans()):
        body["v"] = data.draw(st.sampled_from([1, 2, "1"]))
    payload = json.dumps(body).encode()
    limits = ValidationSettings(max_past_ms=2**60, max_future_ms=2**60)
    checked = check_message(topic("s1", "gw1", TopicKind.READINGS), payload, 0, limits)
    try:
        model = ReadingsMessage.model_validate_json(payload, strict=True)
    except ValidationError:
        assert isinstance(checked, Refusal)
        assert checked.reason == "bad_schema"
        return
    assert isinstance(checked, Readings)
    assert (checked.site, checked.gateway, checked.seq) == (model.site, model.gateway, model.seq)
    assert outcome(points.ReadingLines().lines, checked) == outcome(points.reading_lines, model)


def test_a_percent_sign_in_a_name_is_not_read_as_a_template_placeholder() -> None:
    message = Readings("s1", "gw1", 1, [{"device": "m1", "ts_ms": 5, "values": {"a%s": 1.5, "b%%": 2.0}}])
    assert points.ReadingLines().lines(message) == reference_lines(message)
