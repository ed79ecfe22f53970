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

    def report(self, connection: str, tick_ms: int, results: list[T]) -> None:
        if results:
            self.pending.setdefault(tick_ms, []).extend(results)

    def release(self, connection: str, before_ms: int) -> None:
        """`connection` has reported everything it will for ticks before `before_ms`."""
        self.released[connection] = max(self.released[connection], before_ms)
        horizon = min(self.released.values())
        for tick in sorted(t for t in self.pending if t < horizon):
            self.flush(tick, self.pending.pop(tick))
