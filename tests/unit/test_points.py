from __future__ import annotations

import pytest

from cloud import points
from cloud.lineprotocol import LineProtocolError
from config.wire import (
    BatchStarted,
    EventsMessage,
    Quality,
    Reading,
    ReadingsMessage,
    ScrapWeighed,
)


def readings(*items: Reading, seq: int = 7) -> ReadingsMessage:
    return ReadingsMessage(site="s1", gateway="gw1", seq=seq, readings=list(items))


def test_a_reading_becomes_one_point_with_float_fields_and_ms_time_in_ns() -> None:
    lines = points.reading_lines(
        readings(Reading(device="m1", ts_ms=1000, values={"power_w": 5.0, "state": "run"}))
    )
    assert lines == [
        'reading,device=m1,gateway=gw1,site=s1 power_w=5.0,state="run" 1000000000',
        "message,gateway=gw1,site=s1,topic=readings seq=7.0,count=1.0 7000000",
    ]


def test_the_same_message_always_gives_the_same_lines() -> None:
    message = readings(Reading(device="m1", ts_ms=1, values={"a": 1.5}))
    copy = ReadingsMessage.model_validate_json(message.model_dump_json())
    assert points.reading_lines(message) == points.reading_lines(copy)


def test_a_failed_read_becomes_a_read_error_point() -> None:
    lines = points.reading_lines(
        readings(Reading(device="m1", ts_ms=1, quality=Quality.ERROR, error="timeout"))
    )
    assert lines[0] == 'read_error,device=m1,gateway=gw1,site=s1 quality="error",error="timeout" 1000000'


def test_quantity_time_is_refused() -> None:
    with pytest.raises(LineProtocolError, match="time"):
        points.reading_lines(readings(Reading(device="m1", ts_ms=1, values={"time": 1.0})))


def test_events_carry_kind_and_line_tags_and_json_counters() -> None:
    message = EventsMessage(
        site="s1",
        gateway="gw1",
        seq=3,
        events=[
            BatchStarted(ts_ms=2, device="plc", line="L1", batch_id="B 1", counters={"m1": {"e": 1.0}}),
            ScrapWeighed(
                ts_ms=3, device="scale", weighing_seq=4, mass_kg=1.5, category="foil", destination="recycling"
            ),
        ],
    )
    lines = points.event_lines(message)
    assert lines[0] == (
        "event,device=plc,gateway=gw1,kind=batch_started,line=L1,site=s1 "
        'batch_id="B 1",product="",counters="{\\"m1\\":{\\"e\\":1.0}}" 2000000'
    )
    assert lines[1].startswith("event,device=scale,gateway=gw1,kind=scrap_weighed,site=s1 weighing_seq=4.0,")
    assert lines[2] == "message,gateway=gw1,site=s1,topic=events seq=3.0,count=2.0 3000000"


def test_a_dead_letter_keeps_the_payload_head() -> None:
    line = points.dead_letter_line("bad_json", "c1", "t/x", b"\xff" + b"a" * 5000, "oops", 99, "gw1", 5)
    assert line.startswith(
        'dead_letter,collector=c1,reason=bad_json topic="t/x",payload="\ufffd' + "a" * 4095 + '"'
    )
    assert line.endswith('payload_bytes=5001.0,detail="oops",gateway="gw1",seq=5.0 99')
