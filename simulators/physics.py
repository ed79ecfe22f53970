"""Electrical load of one meter: power piecewise constant per simulated second, energy its integral.

Pure: time is passed in as simulated seconds since the plant's start. The noise stream is
drawn in order from a generator seeded by (plant seed, meter id), so the same file and seed
give the same power in every second however the series is read.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

JOULES_PER_KWH = 3.6e6

BasePower = Callable[[int], float]
"""Mean power in W during simulated second k (from the line's state, or constant)."""


class LoadSeries:
    """Power per simulated second and its exact running integral, extended on demand."""

    def __init__(self, seed: int, meter_id: str, base_w: BasePower, noise: float) -> None:
        self._rng = random.Random(f"{seed}:{meter_id}:power")
        self._base_w = base_w
        self._noise = noise
        self._power_w: list[float] = []
        self._joules: list[float] = [0.0]
        """Energy from second 0 to the start of second k, in J (W*s)."""

    def _extend(self, seconds: int) -> None:
        power, joules, draw = self._power_w, self._joules, self._rng.gauss
        total = joules[-1]
        for k in range(len(power), seconds):
            watts = max(0.0, self._base_w(k) * (1.0 + self._noise * draw(0.0, 1.0)))
            power.append(watts)
            total += watts
            joules.append(total)

    def power_w(self, t: float) -> float:
        """The power drawn at simulated time t (constant over each whole second)."""
        k = max(0, math.floor(t))
        self._extend(k + 1)
        return self._power_w[k]

    def energy_kwh(self, t: float) -> float:
        """Energy drawn from second 0 to t, exact for the piecewise-constant power."""
        if t <= 0:
            return 0.0
        k = math.floor(t)
        self._extend(k + 1)
        return (self._joules[k] + self._power_w[k] * (t - k)) / JOULES_PER_KWH

    def energy_between_kwh(self, start: float, end: float) -> float:
        return self.energy_kwh(end) - self.energy_kwh(start)
