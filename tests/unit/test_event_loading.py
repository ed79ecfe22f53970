"""Pure parts of loading a recompute's events (cloud.results)."""

from __future__ import annotations

from itertools import pairwise

from cloud.results import Window, _clustered

HOUR = 3_600_000


def test_start_times_close_together_are_read_as_one_span() -> None:
    times = [0, HOUR, 3 * HOUR, 20 * HOUR, 20 * HOUR + 5, 40 * HOUR]
    assert _clustered(times, 6 * HOUR) == [Window(0, 3 * HOUR), Window(20 * HOUR, 20 * HOUR + 5),
                                           Window(40 * HOUR, 40 * HOUR)]
    assert _clustered(times, HOUR) == [Window(0, HOUR), Window(3 * HOUR, 3 * HOUR),
                                       Window(20 * HOUR, 20 * HOUR + 5), Window(40 * HOUR, 40 * HOUR)]
    assert _clustered([], HOUR) == []
    # every time lies in a span, and the spans are ordered and apart
    spans = _clustered(times, 2 * HOUR)
    assert all(any(s.from_ms <= t <= s.to_ms for s in spans) for t in times)
    assert all(a.to_ms + 2 * HOUR < b.from_ms for a, b in pairwise(spans))
