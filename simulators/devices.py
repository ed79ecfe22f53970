"""A device's registers at a simulated time: the plant's values encoded by the device's profile.

Pure, and the inverse of the agent's decoding: both go through config.codec and the same
profile, and the golden cases in config/profiles/cases/ pin the pair down. Read faults that
change the words (zero read, stuck value, torn read) are applied here; faults that change
whether an answer comes at all are the server's.
"""

from __future__ import annotations

import math

from config.codec import DataType, encode_raw
from config.profile import Function, Profile, Register
from config.quantities import Kind
from config.simplant import FaultKind
from simulators.plant import Plant, Value

_INTEGER = {DataType.U16, DataType.I16, DataType.U32, DataType.I32, DataType.U64, DataType.I64}


def register_words(reg: Register, kind: Kind, value: Value) -> list[int]:
    """Words for one value. Integer counters step down to whole units, as a meter's display does."""
    if kind is Kind.COUNTER and reg.type in _INTEGER and not isinstance(value, str):
        raw = math.floor((float(value) - reg.offset) / reg.scale + 1e-9)
        return encode_raw(raw, reg.type, reg.word_order)
    return reg.encode(value)


def _torn(words: list[int], reg: Register) -> list[int]:
    """The words as read across a carry: low words before it, the most significant after."""
    if len(words) < 2:
        return words
    order = reg.word_order.value
    # ABCD/BADC send the most significant word first; CDAB/DCBA send it last.
    top = 0 if order in ("ABCD", "BADC") else len(words) - 1
    torn = list(words)
    if order in ("BADC", "DCBA"):
        swapped = ((torn[top] & 0xFF) << 8) | (torn[top] >> 8)
        swapped = (swapped + 1) & 0xFFFF
        torn[top] = ((swapped & 0xFF) << 8) | (swapped >> 8)
    else:
        torn[top] = (torn[top] + 1) & 0xFFFF
    return torn


class DeviceImage:
    """Answers reads of one device from the plant model."""

    def __init__(self, plant: Plant, device_id: str) -> None:
        self.plant = plant
        self.device_id = device_id
        self.profile: Profile = plant.profiles[device_id]
        self._by_table: dict[Function, list[tuple[str, Register]]] = {}
        for name, reg in self.profile.registers.items():
            self._by_table.setdefault(reg.function, []).append((name, reg))

    def span(self, function: Function) -> tuple[int, int] | None:
        """The address range [first, end) this device answers in one table."""
        regs = self._by_table.get(function)
        if not regs:
            return None
        return min(r.address for _, r in regs), max(r.end for _, r in regs)

    def words(self, function: Function, address: int, count: int, t: float) -> list[int]:
        """The words of [address, address + count) at time t; unused addresses read 0."""
        fault = self.plant.read_fault(self.device_id, t)
        kind = fault.kind if fault else None
        if kind is FaultKind.ZERO_READ:
            return [0] * count
        if kind is FaultKind.STUCK and fault is not None:
            t = fault.at_s
        values = self.plant.values(self.device_id, t)
        out = [0] * count
        for name, reg in self._by_table.get(function, []):
            if reg.end <= address or reg.address >= address + count:
                continue
            words = register_words(reg, self.profile.kind(name), values[name])
            if kind is FaultKind.TORN_READ and self.profile.kind(name) is Kind.COUNTER:
                words = _torn(words, reg)
            for i, word in enumerate(words):
                if address <= reg.address + i < address + count:
                    out[reg.address + i - address] = word
        return out

    def decode(self, function: Function, address: int, words: list[int]) -> dict[str, Value]:
        """The physical values in a block of words (what a client of this profile would see)."""
        values: dict[str, Value] = {}
        for name, reg in self._by_table.get(function, []):
            lo = reg.address - address
            if lo >= 0 and lo + reg.words <= len(words):
                values[name] = reg.decoder()(words[lo : lo + reg.words])
        return values
