"""Device profiles: every shipped profile loads, and its golden cases decode and encode exactly."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from config.codec import DataType, make_decoder
from config.loader import ConfigError, load_file
from config.profile import PROFILE_DIR, Profile, Register, load_profile

PROFILES = sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
CASES_DIR = PROFILE_DIR / "cases"
REAL_METERS = ["sdm630", "sdm120", "iem3000", "em24", "janitza_umg", "pac2200"]


def _cases(name: str) -> list[dict[str, Any]]:
    from config.loader import parse_yaml

    data, _ = parse_yaml((CASES_DIR / f"{name}.yaml").read_text(), name)
    assert isinstance(data, list)
    return data


def _same(reg: Register, decoded: object, expected: object) -> bool:
    if isinstance(expected, str):
        return decoded == expected
    assert isinstance(decoded, int | float)
    assert isinstance(expected, int | float)
    rel = 1e-6 if reg.type is DataType.F32 else 1e-12
    return math.isclose(decoded, expected, rel_tol=rel, abs_tol=abs(reg.scale) * 1e-9)


def test_every_shipped_profile_loads_and_names_its_manual() -> None:
    assert {*REAL_METERS, "wtx120", "weigh_station", "line_controller"} <= set(PROFILES)
    for name in PROFILES:
        profile = load_profile(name)
        assert profile.source.strip(), name
        assert profile.registers, name


@pytest.mark.parametrize("name", REAL_METERS)
def test_real_meters_serve_power_and_import_energy(name: str) -> None:
    regs = load_profile(name).registers
    assert {"power_w", "energy_import_kwh"} <= set(regs)


@pytest.mark.parametrize("name", PROFILES)
def test_golden_cases_cover_every_register(name: str) -> None:
    covered = {case["quantity"] for case in _cases(name)}
    assert covered == set(load_profile(name).registers)


@pytest.mark.parametrize("name", PROFILES)
def test_golden_cases_decode_and_encode_exactly(name: str) -> None:
    profile = load_profile(name)
    for case in _cases(name):
        reg = profile.registers[case["quantity"]]
        words, value = case["words"], case["value"]
        assert len(words) == reg.words, case
        assert _same(reg, reg.decoder()(words), value), case
        if reg.bits is None:  # the agent may build its decoder straight from the codec
            plain = make_decoder(reg.type, reg.word_order, reg.scale, reg.offset)
            assert _same(reg, plain(words), value), case
        assert reg.encode(value) == words, case


def test_cases_exercise_every_word_order_the_profiles_use() -> None:
    used = {(reg.word_order, reg.words > 1) for n in PROFILES for reg in load_profile(n).registers.values()}
    assert {order for order, multi in used if multi} >= {"ABCD", "CDAB"}
    cased = {load_profile(n).registers[c["quantity"]].word_order for n in PROFILES for c in _cases(n)}
    assert {order for order, _ in used} <= cased


def _write(tmp_path: Path, registers: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(f"model: X\nmanufacturer: Y\nsource: Z\nregisters:\n{registers}")
    return path


@pytest.mark.parametrize(
    ("registers", "message"),
    [
        ("  power_w: {function: input, address: 0, type: f32}\n"
         "  frequency_hz: {function: input, address: 1, type: f32}\n",
         "registers.frequency_hz: overlaps registers.power_w"),
        ("  power_w: {function: input, address: 65535, type: f32}\n", "registers.power_w: address 65535"),
        ("  power_w: {function: input, address: 65536, type: u16}\n", "registers.power_w.address"),
        ("  watts_now: {function: input, address: 0, type: f32}\n", "registers.watts_now: unknown quantity"),
        ("  scale_decimals: {function: holding, address: 5, type: f32, bits: [4, 6]}\n",
         "bits need an integer"),
        ("  power_w: {function: input, address: 0, type: f32, wordorder: CDAB}\n", "unknown key"),
    ],
)
def test_invalid_profiles_are_refused_naming_file_and_key(
    tmp_path: Path, registers: str, message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_file(Profile, _write(tmp_path, registers))
    assert "bad.yaml" in str(err.value)
    assert message in str(err.value)


def test_holding_and_input_tables_may_reuse_addresses() -> None:
    profile = Profile.model_validate({
        "model": "X", "manufacturer": "Y", "source": "Z",
        "registers": {"power_w": {"function": "input", "address": 0, "type": "f32"},
                      "frequency_hz": {"function": "holding", "address": 0, "type": "f32"}},
    })
    assert len(profile.registers) == 2
