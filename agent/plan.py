"""Request planning (pure): a device's registers coalesced into as few reads as allowed.

A block never splits a multi-register value, spans at most the profile's
`max_read_registers`, and bridges gaps of at most `max_gap` unused registers. A block a
device refuses with exception 02 (illegal address) is split in two so the rest is still
read; a single register it refuses is given up on (the caller counts it).

Decoding is the per-reading hot path: a block's plain numbers (big-endian words, no labels,
no bit fields) are unpacked by one precomputed `struct` layout in a single C call; only
strings, labelled states, bit fields and other word orders go through per-slot decoders.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from config.codec import DataType, Decoded, WordOrder
from config.profile import Function, Profile, Register

_PLAIN = {DataType.U16: "H", DataType.I16: "h", DataType.U32: "I", DataType.I32: "i",
          DataType.U64: "Q", DataType.I64: "q", DataType.F32: "f", DataType.F64: "d"}
_INFINITIES = (math.inf, -math.inf)
_WORDS = [struct.Struct(f">{n}H") for n in range(126)]  # prebuilt: no format parsing per block


@dataclass(frozen=True, slots=True)
class Slot:
    """One quantity inside a block: where its words sit and how they become a wire value."""

    quantity: str
    offset: int
    words: int
    decode: Callable[[Sequence[int]], Decoded]
    labels: Mapping[int, str] | None
    plain: str | None = None
    """The struct code when the slot is a plain big-endian number, decoded with its block."""
    scale: float = 1.0
    shift: float = 0.0
    """The register's `offset` (value = raw * scale + shift), named apart from the word offset."""


@dataclass(frozen=True, slots=True)
class Block:
    function: Function
    address: int
    count: int
    slots: tuple[Slot, ...]
    layout: struct.Struct | None = None
    """One unpack of the whole block's words yields every plain slot's raw value, in `plain`."""
    plain: tuple[Slot, ...] = ()
    other: tuple[Slot, ...] = ()
    """Slots decoded one by one: strings, labelled states, bit fields, other word orders."""


def make_slot(quantity: str, reg: Register, block_start: int) -> Slot:
    if reg.function in (Function.COIL, Function.DISCRETE):
        decode: Callable[[Sequence[int]], Decoded] = lambda words: float(bool(words[0]))  # noqa: E731
    else:
        decode = reg.decoder()  # honours bit fields
    labels = dict(reg.labels) if reg.labels and reg.type is not DataType.STRING else None
    plain = None
    if reg.function in (Function.HOLDING, Function.INPUT) and not labels and reg.bits is None \
            and reg.word_order is WordOrder.ABCD:
        plain = _PLAIN.get(reg.type)
    return Slot(quantity, reg.address - block_start, reg.words, decode, labels, plain, reg.scale, reg.offset)


def _layout(slots: Sequence[Slot], count: int) -> struct.Struct:
    """`>` + pad bytes and one code per plain slot, in offset order, spanning the whole block."""
    parts, at = [">"], 0
    for slot in slots:
        parts.append(f"{2 * (slot.offset - at)}x{slot.plain}")
        at = slot.offset + slot.words
    parts.append(f"{2 * (count - at)}x")
    return struct.Struct("".join(parts))


def _close(function: Function, regs: list[tuple[str, Register]]) -> Block:
    start = regs[0][1].address
    end = max(reg.end for _, reg in regs)
    slots = tuple(make_slot(q, r, start) for q, r in regs)
    plain = tuple(sorted((s for s in slots if s.plain), key=lambda s: s.offset))
    other = tuple(s for s in slots if not s.plain)
    layout = _layout(plain, end - start) if plain else None
    return Block(function, start, end - start, slots, layout, plain, other)


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
    rest = block.other
    if block.layout is None:
        rest = block.slots
    elif not _decode_plain(block, words, into, failed):
        rest = block.slots  # words of the wrong length or range: slot by slot names the bad ones
    for slot in rest:
        _decode_slot(slot, words, into, failed)
    return failed


def _decode_plain(block: Block, words: Sequence[int], into: dict[str, float | str],
                  failed: list[str]) -> bool:
    assert block.layout is not None
    if len(words) != block.count or block.count >= len(_WORDS):
        return False
    try:
        raws = block.layout.unpack(_WORDS[block.count].pack(*words))
    except struct.error:
        return False
    for slot, raw in zip(block.plain, raws, strict=True):
        value = raw * slot.scale + slot.shift if slot.scale != 1.0 or slot.shift else raw
        if value != value or value in _INFINITIES:  # NaN or infinite: never a reading
            failed.append(slot.quantity)
        else:
            into[slot.quantity] = float(value)
    return True


def _decode_slot(slot: Slot, words: Sequence[int], into: dict[str, float | str], failed: list[str]) -> None:
    try:
        value = slot.decode(words[slot.offset : slot.offset + slot.words])
    except (ValueError, IndexError):
        failed.append(slot.quantity)
        return
    if slot.labels is not None and isinstance(value, int | float):
        into[slot.quantity] = slot.labels.get(int(value), f"code_{int(value)}")
    elif isinstance(value, str):
        into[slot.quantity] = value
    elif math.isfinite(value):
        into[slot.quantity] = float(value)
    else:
        failed.append(slot.quantity)
