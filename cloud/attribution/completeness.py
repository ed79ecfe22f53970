"""Data completeness: share of expected readings present per meter in a window, and the gaps."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from itertools import repeat
from operator import floordiv, gt, sub

from cloud.attribution.elision import Elision, alone_in_slots, strictly_inside, within
from cloud.attribution.model import Gap, MeterCompleteness


def completeness(
    meter: str, reading_times: list[int], start_ms: int, end_ms: int, poll_ms: int, gap_factor: float,
    elided: Sequence[Elision] = (),
) -> MeterCompleteness:
    """`reading_times` sorted and distinct. Expected: one reading per poll interval of the window.

    `elided`: readings not in `reading_times` (cloud.attribution.elision), none straddling
    the window's near edges, each alone in its slot (`alone_in_slots`), none a gap;
    ValueError if one is not (`counted_exactly` tells beforehand)."""
    expected = max(1, (end_ms - start_ms) // poll_ms)
    # A reading counts for the poll nearest its time. A poll's reading lands a few ms after
    # the poll instant, and batch boundaries are themselves reading times (the controller's),
    # so counting only readings strictly inside [start, end] lost a boundary poll whenever a
    # meter answered a little later than the controller: 659 of 660 with nothing missing.
    half = poll_ms // 2
    near = reading_times[bisect_left(reading_times, start_ms - half):
                         bisect_right(reading_times, end_ms + half)]
    # map over operator functions: a window holds thousands of readings and a plant's
    # recompute runs this per batch and meter, so no Python-level step per reading
    slots = set(map(floordiv, map(sub, near, repeat(start_ms - half)), repeat(poll_ms)))
    limit = gap_factor * poll_ms
    unseen = _unseen(elided, start_ms, end_ms, poll_ms, limit)
    present = min(len(slots) + sum(e.readings for e in unseen), expected)
    inside = reading_times[bisect_left(reading_times, start_ms):bisect_right(reading_times, end_ms)]
    edges = [start_ms, *inside, end_ms]
    steps = list(map(sub, edges[1:], edges[:-1]))
    bridged = {(e.after_ms, e.before_ms) for e in unseen}
    gaps = [] if max(steps) <= limit else [
        Gap(meter=meter, from_ms=edges[k], to_ms=edges[k + 1])
        for k in (k for k, long in enumerate(map(gt, steps, repeat(limit))) if long)
        if (edges[k], edges[k + 1]) not in bridged
    ]
    return MeterCompleteness(meter=meter, expected=expected, present=present,
                             share=present / expected, gaps=gaps)


def counted_exactly(elided: Sequence[Elision], start_ms: int, end_ms: int, poll_ms: int,
                    limit: float) -> bool:
    """Can `completeness` of [start_ms, end_ms] count these elisions as it would their readings?"""
    half = poll_ms // 2
    lo, hi = start_ms - half, end_ms + half
    if strictly_inside(elided, (lo, hi)) is not None:
        return False
    return all(alone_in_slots(e, lo, poll_ms) and e.max_step_ms <= limit for e in within(elided, lo, hi))


def _unseen(elided: Sequence[Elision], start_ms: int, end_ms: int, poll_ms: int,
            limit: float) -> list[Elision]:
    """The elisions inside the window's near edges, checked to count as their readings would."""
    if not elided:
        return []
    if not counted_exactly(elided, start_ms, end_ms, poll_ms, limit):
        raise ValueError(f"elided readings in [{start_ms}, {end_ms}] cannot be counted unseen: an "
                         "elision straddles the window's edge, shares a poll slot or holds a gap")
    half = poll_ms // 2
    return within(elided, start_ms - half, end_ms + half)
