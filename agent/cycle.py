"""The poll cycle (pure): gathers every connection's results of one tick into one cycle.

Connections poll concurrently and finish a tick at different times; a cycle is complete
when every connection has released it (it will report nothing more for that tick), so
a line controller and the meters of its line, though on different buses, land in the
same cycle and the batch boundary's counter snapshot is taken from the same tick.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class CycleAssembler(Generic[T]):
    def __init__(self, connections: list[str], flush: Callable[[int, list[T]], None]) -> None:
        self.released: dict[str, int] = dict.fromkeys(connections, 0)
        self.pending: dict[int, list[T]] = {}
        self.flush = flush
        # The horizon (lowest release) and how many connections sit at it, kept as they move:
        # every connection releases twice per tick, so a min() over all of them per release
        # would cost O(connections) each time, O(connections^2) per tick.
        self.horizon = 0
        self._at_horizon = len(connections)

    def report(self, connection: str, tick_ms: int, results: list[T]) -> None:
        if results:
            self.pending.setdefault(tick_ms, []).extend(results)

    def release(self, connection: str, before_ms: int) -> None:
        """`connection` has reported everything it will for ticks before `before_ms`."""
        old = self.released[connection]
        if before_ms <= old:
            return
        self.released[connection] = before_ms
        if old != self.horizon:
            return
        self._at_horizon -= 1
        if self._at_horizon:
            return
        self.horizon = min(self.released.values())
        self._at_horizon = sum(1 for t in self.released.values() if t == self.horizon)
        for tick in sorted(t for t in self.pending if t < self.horizon):
            self.flush(tick, self.pending.pop(tick))
