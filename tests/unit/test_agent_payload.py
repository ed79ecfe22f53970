"""The agent's templated readings JSON equals what the JSON encoder writes for the same cycle."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.payload import ReadingsPayloads, readings_payload_reference
from agent.poller import Polled
from config.wire import ReadingsMessage

NAME = st.from_regex(r"\A[a-z][a-z0-9_%é\"\\]{0,6}\Z")
VALUE = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**40), 2**40) | st.text(max_size=5)


@st.composite
def polled(draw: st.DrawFn) -> Polled:
    device = draw(st.sampled_from(["m1", "m2", "m%d", 'q"x']))
    values = draw(st.dictionaries(NAME, VALUE, max_size=4))
    error = draw(st.none() | st.sampled_from(["timeout", "exception:2"]))
    return Polled(device, draw(st.integers(0, 2**53 - 1)), {} if error else values, error=error,
                  stale=draw(st.booleans()))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(polled(), max_size=6), min_size=1, max_size=4))
def test_templates_write_what_the_encoder_writes(cycles: list[list[Polled]]) -> None:
    payloads = ReadingsPayloads()  # one for all cycles: later ones hit the cached templates
    for seq, cycle in enumerate(cycles, start=1):
        assert payloads.payload("s%1", "g", seq, cycle) == readings_payload_reference("s%1", "g", seq, cycle)


def test_a_cycle_of_good_readings_is_a_valid_wire_message() -> None:
    cycle = [Polled("m1", 1000, {"power_w": 1.5, "energy_kwh": 1e16}), Polled("m2", 1001, {"power_w": -0.0})]
    payloads = ReadingsPayloads()
    for seq in (1, 2):  # the second cycle is formatted from the cached templates
        message = ReadingsMessage.model_validate_json(payloads.payload("s", "g", seq, cycle))
        expected = [{"power_w": 1.5, "energy_kwh": 1e16}, {"power_w": -0.0}]
        assert [r.values for r in message.readings] == expected
