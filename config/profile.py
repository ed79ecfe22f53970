"""Device profiles: one YAML per device model (EdgeX style), reused by every device of it.

Addresses are wire addresses: the 0-based PDU address sent in the Modbus frame. The
manual's own numbering (30001-style, or 1-based) is recorded beside it in `manual`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from functools import cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.codec import DataType, Decoded, WordOrder, encode, make_decoder, word_count
from config.loader import load_file
from config.quantities import QUANTITIES, Kind


class Function(StrEnum):
    HOLDING = "holding"
    INPUT = "input"
    COIL = "coil"
    DISCRETE = "discrete"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Register(_Strict):
    function: Function
    address: int = Field(ge=0, le=0xFFFF, description="0-based wire (PDU) address")
    manual: str | None = Field(default=None, description="the address as the manual prints it")
    type: DataType
    word_order: WordOrder = WordOrder.ABCD
    length: int = Field(default=0, ge=0, le=64, description="registers, for strings only")
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = None
    kind: Kind | None = None
    counter_bits: int | None = Field(
        default=None, description="counter width in bits, if it rolls over before the type does"
    )
    rollover: float | None = Field(
        default=None, description="value (in canonical units) at which the counter wraps to 0"
    )
    labels: dict[int, str] = Field(default_factory=dict, description="state codes to labels")
    bits: tuple[int, int] | None = Field(
        default=None, description="inclusive bit range [low, high] of an integer register"
    )

    @model_validator(mode="after")
    def _check_bits(self) -> Self:
        if self.bits is None:
            return self
        low, high = self.bits
        if self.type in (DataType.F32, DataType.F64, DataType.STRING):
            raise ValueError(f"bits need an integer type, not {self.type}")
        if not 0 <= low <= high < 16 * self.words:
            raise ValueError(f"bits {list(self.bits)} outside the register's {16 * self.words} bits")
        return self

    def decoder(self) -> Callable[[Sequence[int]], Decoded]:
        """Words in, physical value out, honouring `bits`; use this rather than make_decoder."""
        if self.bits is None:
            return make_decoder(self.type, self.word_order, self.scale, self.offset)
        raw_of = make_decoder(self.type, self.word_order)
        low, high = self.bits
        mask = (1 << (high - low + 1)) - 1
        scale, offset = self.scale, self.offset
        return lambda words: ((int(raw_of(words)) >> low) & mask) * scale + offset

    def encode(self, value: Decoded) -> list[int]:
        """The words for a physical value: the inverse of `decoder()` (other bits zero)."""
        if self.bits is None:
            return encode(value, self.type, self.word_order, self.scale, self.offset, self.length)
        field = round((float(value) - self.offset) / self.scale)
        return encode(field << self.bits[0], self.type, self.word_order)

    @property
    def words(self) -> int:
        if self.function in (Function.COIL, Function.DISCRETE):
            return 1
        return word_count(self.type, self.length)

    @property
    def end(self) -> int:
        return self.address + self.words


class Profile(_Strict):
    model: str
    manufacturer: str
    source: str = Field(description="the manual the addresses were checked against")
    description: str = ""
    max_read_registers: int = Field(default=125, ge=1, le=125)
    max_gap: int = Field(default=10, ge=0, description="unused registers a read may bridge")
    quirks: list[str] = Field(default_factory=list)
    registers: dict[str, Register]

    @model_validator(mode="after")
    def _check_registers(self) -> Self:
        problems = []
        for name, reg in self.registers.items():
            if name not in QUANTITIES:
                problems.append(f"registers.{name}: unknown quantity (known: {sorted(QUANTITIES)})")
            if reg.end > 0x10000:
                problems.append(f"registers.{name}: address {reg.address} + {reg.words} words > 65536")
            if reg.type is DataType.STRING and reg.length < 1:
                problems.append(f"registers.{name}: a string needs length >= 1")
        by_table: dict[Function, list[tuple[int, int, str]]] = {}
        for name, reg in self.registers.items():
            by_table.setdefault(reg.function, []).append((reg.address, reg.end, name))
        for spans in by_table.values():
            spans.sort()
            for (_, end_a, name_a), (start_b, _, name_b) in pairwise(spans):
                if start_b < end_a:
                    problems.append(f"registers.{name_b}: overlaps registers.{name_a}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def kind(self, quantity: str) -> Kind:
        reg = self.registers[quantity]
        return reg.kind or QUANTITIES[quantity][1]


PROFILE_DIR = Path(str(resources.files("config") / "profiles"))


@cache
def load_profile(name_or_path: str) -> Profile:
    """A profile by file path, or by name from config/profiles/ (`sdm630` -> sdm630.yaml)."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.yaml"
    return load_file(Profile, path)
