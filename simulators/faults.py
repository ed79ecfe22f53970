"""Device faults: the declared ones and the random ones drawn from the seed, as one timeline.

Pure. Counter faults (reset, meter replacement, rollover) change a meter's counter once;
window faults (no response, exception, zero read, stuck, torn read, disconnect) change what
reads return from `at_s` for `duration_s`.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass

from config.simplant import COUNTER_FAULTS, WINDOW_FAULTS, Fault, FaultKind, RandomFaults

EXCEPTION_CODES = (1, 2, 3, 4, 6)


@dataclass(frozen=True)
class CounterSegment:
    """From `start_s` on, the counter reads `base_kwh` + energy drawn since `start_s`."""

    start_s: float
    base_kwh: float


def draw_random_faults(spec: RandomFaults, seed: int, horizon_s: float) -> list[Fault]:
    """A Poisson stream of faults over [0, horizon_s), the same for the same seed."""
    rng = random.Random(f"{seed}:faults")
    faults: list[Fault] = []
    t = 0.0
    while True:
        t += rng.expovariate(spec.per_hour / 3600.0)
        if t >= horizon_s:
            return faults
        kind = rng.choice(spec.kinds)
        device = rng.choice(spec.devices)
        code = rng.choice(EXCEPTION_CODES) if kind is FaultKind.EXCEPTION else None
        value = round(rng.uniform(0.0, 50_000.0), 1) if kind is FaultKind.METER_REPLACEMENT else None
        faults.append(Fault(device=device, kind=kind, at_s=round(t, 3), duration_s=spec.duration_s,
                            code=code, value_kwh=value))


def describe(fault: Fault) -> str:
    if fault.kind is FaultKind.EXCEPTION:
        return f"exception code {fault.code} for {fault.duration_s:g} s"
    if fault.kind is FaultKind.METER_REPLACEMENT:
        return f"meter replaced; new counter starts at {fault.value_kwh} kWh"
    if fault.kind is FaultKind.COUNTER_RESET:
        return "counter reset to 0"
    if fault.kind is FaultKind.ROLLOVER:
        return "counter reaches its width and wraps to 0"
    return f"{fault.kind.value} for {fault.duration_s:g} s"


class DeviceFaults:
    """The faults of one device, answering what is in force at a time."""

    def __init__(self, faults: list[Fault]) -> None:
        ordered = sorted(faults, key=lambda f: f.at_s)
        self.counter = [f for f in ordered if f.kind in COUNTER_FAULTS]
        self.window = [f for f in ordered if f.kind in WINDOW_FAULTS]
        self._window_starts = [f.at_s for f in self.window]
        self._longest = max((f.duration_s for f in self.window), default=0.0)

    def window_fault(self, t: float) -> Fault | None:
        """The latest-starting window fault in force at t."""
        i = bisect.bisect_right(self._window_starts, t) - 1
        while i >= 0 and self.window[i].at_s >= t - self._longest:
            fault = self.window[i]
            if t < fault.at_s + fault.duration_s:
                return fault
            i -= 1
        return None


def counter_segments(
    faults: list[Fault], start_kwh: float, width_kwh: float | None, energy_at: dict[float, float]
) -> list[CounterSegment]:
    """Segments of a counter between its discontinuities.

    `energy_at` holds the meter's true energy (kWh since second 0) at each fault's `at_s`.
    A rollover is placed so that the counter reaches its width exactly at `at_s`: the segment
    it falls in starts that much below the width, and the wrap itself is the modulo.
    """
    segments = [CounterSegment(0.0, start_kwh)]
    for fault in faults:
        if fault.kind is FaultKind.ROLLOVER:
            if width_kwh is None:
                raise ValueError(f"rollover at {fault.at_s} s: the counter register has no width")
            last = segments[-1]
            drawn = energy_at[fault.at_s] - energy_at.get(last.start_s, 0.0)
            segments[-1] = CounterSegment(last.start_s, (width_kwh - drawn) % width_kwh)
        elif fault.kind is FaultKind.COUNTER_RESET:
            segments.append(CounterSegment(fault.at_s, 0.0))
        else:
            segments.append(CounterSegment(fault.at_s, fault.value_kwh or 0.0))
    return segments
