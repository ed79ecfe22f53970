"""Request planning and block decoding."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.plan import decode_block, plan_profile, plan_registers, split_block
from config.codec import DataType, encode
from config.profile import Function, Register, load_profile


def reg(address: int, dtype: DataType = DataType.F32, function: Function = Function.INPUT) -> Register:
    return Register(function=function, address=address, type=dtype)


def test_sdm630_is_one_read_across_its_undefined_registers() -> None:
    blocks = plan_profile(load_profile("sdm630"))
    assert [(b.address, b.count) for b in blocks] == [(0, 74)]


def test_registers_coalesce_within_the_gap_and_split_beyond_it() -> None:
    registers = load_profile("sdm630").registers
    blocks = plan_registers(registers, max_read=80, max_gap=10)
    assert [(b.address, b.count) for b in blocks] == [(0, 18), (52, 2), (70, 4)]


def test_a_block_never_exceeds_max_read_and_never_splits_a_value() -> None:
    registers = {"power_w": reg(0), "energy_import_kwh": reg(3, DataType.F64), "frequency_hz": reg(7)}
    blocks = plan_registers(registers, max_read=6, max_gap=10)
    assert [(b.address, b.count) for b in blocks] == [(0, 2), (3, 6)]


def test_tables_are_planned_apart() -> None:
    registers = {"power_w": reg(0), "frequency_hz": reg(2, function=Function.HOLDING)}
    assert {(b.function, b.address) for b in plan_registers(registers, 125, 10)} == {
        (Function.INPUT, 0), (Function.HOLDING, 2)}


@given(st.lists(st.tuples(st.integers(0, 400), st.sampled_from([DataType.U16, DataType.F32, DataType.F64])),
                min_size=1, max_size=12, unique_by=lambda t: t[0]),
       st.integers(4, 125), st.integers(0, 20))
def test_every_register_is_in_exactly_one_block_whole(
    spec: list[tuple[int, DataType]], max_read: int, max_gap: int
) -> None:
    names = ["power_w", "power_l1_w", "power_l2_w", "power_l3_w", "voltage_l1_v", "voltage_l2_v",
             "voltage_l3_v", "current_l1_a", "current_l2_a", "current_l3_a", "frequency_hz", "power_factor"]
    registers, end = {}, 0
    for name, (gap, dtype) in zip(names, spec, strict=False):
        registers[name] = reg(end + gap % 30, dtype)
        end = registers[name].end
    blocks = plan_registers(registers, max_read, max_gap)
    placed = [s.quantity for b in blocks for s in b.slots]
    assert sorted(placed) == sorted(registers)
    for block in blocks:
        assert block.count <= max(max_read, max(s.words for s in block.slots))
        for slot in block.slots:
            assert slot.offset >= 0
            assert slot.offset + slot.words <= block.count


def test_a_refused_block_splits_into_halves_and_a_lone_register_gives_up() -> None:
    profile = load_profile("sdm630")
    first = plan_profile(profile)[0]
    halves = split_block(first, profile)
    assert [s.quantity for h in halves for s in h.slots] == [s.quantity for s in first.slots]
    assert len(halves) == 2
    lone = halves[0]
    while len(lone.slots) > 1:
        lone = split_block(lone, profile)[0]
    assert split_block(lone, profile) == []


def test_decode_gives_floats_labels_and_strings_and_skips_non_finite() -> None:
    line = load_profile("line_controller")
    block = plan_profile(line)[0]
    words = [0] * block.count
    words[0:1] = encode(2, DataType.U16)
    words[1:3] = encode(7, DataType.U32)
    words[10:26] = encode("B-7", DataType.STRING, length=16)
    values: dict[str, float | str] = {}
    assert decode_block(block, words, values) == []
    assert values["line_state"] == "running"
    assert values["good_units"] == 7.0
    assert isinstance(values["good_units"], float)
    assert values["batch_id"] == "B-7"
    meter_block = plan_profile(load_profile("sdm630"))[0]
    nan_words = encode(float("nan"), DataType.F32) + [0] * (meter_block.count - 2)
    out: dict[str, float | str] = {}
    assert decode_block(meter_block, nan_words, out) == ["voltage_l1_v"]
    assert "voltage_l1_v" not in out
