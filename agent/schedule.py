"""Poll timing (pure, time passed in): clock-aligned ticks, due devices, quarantine backoff.

Every device is polled on the wall-clock multiples of its interval (a 1 s device at
each whole second, a 0.2 s device at .0 .2 .4 ...), so readings of different gateways
line up and a restart does not shift the grid. A connection ticks at the greatest
common divisor of its devices' intervals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


def interval_ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def base_period_ms(intervals_ms: Iterable[int]) -> int:
    return math.gcd(*intervals_ms)


def next_tick(now_ms: int, base_ms: int) -> int:
    """The first tick strictly after `now_ms`."""
    return (now_ms // base_ms + 1) * base_ms


def is_due(tick_ms: int, every_ms: int) -> bool:
    return tick_ms % every_ms == 0


@dataclass
class Quarantine:
    """A failing device sits out a doubling number of its periods, capped; one success frees it."""

    every_ms: int
    cap_ms: int
    failures: int = 0
    until_ms: int = 0

    def allows(self, tick_ms: int) -> bool:
        return tick_ms >= self.until_ms

    def failed(self, tick_ms: int) -> bool:
        """Record a failed poll; True when this is the first failure of a run (a new fault)."""
        self.failures += 1
        wait = min(self.every_ms * 2 ** min(self.failures - 1, 20), self.cap_ms)
        self.until_ms = tick_ms + max(wait, self.every_ms)
        return self.failures == 1

    def succeeded(self) -> bool:
        """Record a good poll; True when this ends a run of failures (a recovery)."""
        recovered = self.failures > 0
        self.failures = 0
        self.until_ms = 0
        return recovered


def backoff_s(attempt: int, base: float, cap: float) -> float:
    """Capped exponential backoff for reconnects: base, 2 base, 4 base ... cap."""
    return float(min(cap, base * 2 ** min(attempt, 30)))
