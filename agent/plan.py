"""Request planning (pure): a device's registers coalesced into as few reads as allowed.

A block never splits a multi-register value, spans at most the profile's
`max_read_registers`, and bridges gaps of at most `max_gap` unused registers. A block a
device refuses with exception 02 (illegal address) is split in two so the rest is still
read; a single register it refuses is given up on (the caller counts it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from config.codec import DataType, Decoded
from config.profile import Function, Profile, Register


@dataclass(frozen=True, slots=True)
class Slot:
    """One quantity inside a block: where its words sit and how they become a wire value."""

    quantity: str
    offset: int
    words: int
    decode: Callable[[Sequence[int]], Decoded]
    labels: Mapping[int, str] | None


@dataclass(frozen=True, slots=True)
class Block:
    function: Function
    address: int
    count: int
    slots: tuple[Slot, ...]


def make_slot(quantity: str, reg: Register, block_start: int) -> Slot:
    if reg.function in (Function.COIL, Function.DISCRETE):
        decode: Callable[[Sequence[int]], Decoded] = lambda words: float(bool(words[0]))  # noqa: E731
    else:
        decode = reg.decoder()  # honours bit fields
    labels = dict(reg.labels) if reg.labels and reg.type is not DataType.STRING else None
    return Slot(quantity, reg.address - block_start, reg.words, decode, labels)


def _close(function: Function, regs: list[tuple[str, Register]]) -> Block:
    start = regs[0][1].address
    end = max(reg.end for _, reg in regs)
    return Block(function, start, end - start, tuple(make_slot(q, r, start) for q, r in regs))


def plan_registers(
    registers: Mapping[str, Register], max_read: int, max_gap: int
) -> list[Block]:
    """Blocks covering `registers`, in table and address order."""
    blocks: list[Block] = []
    by_function: dict[Function, list[tuple[str, Register]]] = {}
    for name, reg in registers.items():
        by_function.setdefault(reg.function, []).append((name, reg))
    for function in sorted(by_function):
        regs = sorted(by_function[function], key=lambda item: item[1].address)
        current: list[tuple[str, Register]] = []
        for name, reg in regs:
            if current:
                start = current[0][1].address
                end = max(r.end for _, r in current)
                if reg.end - start > max_read or reg.address - end > max_gap:
                    blocks.append(_close(function, current))
                    current = []
            current.append((name, reg))
        if current:
            blocks.append(_close(function, current))
    return blocks


def plan_profile(profile: Profile) -> list[Block]:
    return plan_registers(profile.registers, profile.max_read_registers, profile.max_gap)


def split_block(block: Block, profile: Profile) -> list[Block]:
    """The halves of a block refused with exception 02; [] if it holds one register only."""
    if len(block.slots) < 2:
        return []
    middle = math.ceil(len(block.slots) / 2)
    halves = (block.slots[:middle], block.slots[middle:])
    return [
        _close(block.function, [(slot.quantity, profile.registers[slot.quantity]) for slot in half])
        for half in halves
    ]


def decode_block(block: Block, words: Sequence[int], into: dict[str, float | str]) -> list[str]:
    """Decode every slot of a block into `into`; return the quantities that could not be decoded.

    Numbers become floats (the wire's type), state codes their label, strings stay strings.
    A value that is not a finite number is left out, never published as 0.
    """
    failed: list[str] = []
    for slot in block.slots:
        try:
            value = slot.decode(words[slot.offset : slot.offset + slot.words])
        except (ValueError, IndexError):
            failed.append(slot.quantity)
            continue
        if slot.labels is not None and isinstance(value, int | float):
            into[slot.quantity] = slot.labels.get(int(value), f"code_{int(value)}")
        elif isinstance(value, str):
            into[slot.quantity] = value
        elif math.isfinite(value):
            into[slot.quantity] = float(value)
        else:
            failed.append(slot.quantity)
    return failed
