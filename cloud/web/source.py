"""The results source port: what the API and dashboard read, and an in-memory fake.

The API never talks to InfluxDB itself; it asks a source. Production uses
`cloud.web.influx_source.InfluxResultsSource`, unit tests use `MemoryResultsSource`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cloud.attribution.aggregates import aggregate
from cloud.attribution.model import Aggregate, AggregateKey, BatchResult


@dataclass(frozen=True)
class BatchFilter:
    """Which batches a list shows; times select by batch start, `[from_ms, to_ms)`."""

    line: str | None = None
    product: str | None = None
    from_ms: int | None = None
    to_ms: int | None = None
    alarms: bool | None = None
    """True: only batches with alarms; False: only batches without; None: all."""

    def matches(self, result: BatchResult) -> bool:
        return (
            (self.line is None or result.line == self.line)
            and (self.product is None or result.product == self.product)
            and (self.from_ms is None or result.start_ms >= self.from_ms)
            and (self.to_ms is None or result.start_ms < self.to_ms)
            and (self.alarms is None or bool(result.alarms) == self.alarms)
        )


@dataclass(frozen=True)
class PowerCurve:
    """Power readings of a batch's own meters over its window, per meter, as (ts_ms, W)."""

    batch_id: str
    start_ms: int
    end_ms: int
    series: Mapping[str, Sequence[tuple[int, float]]]
    quantity: str = "power_w"
    unit: str = "W"


class ResultsSource(Protocol):
    async def list_batches(self, query: BatchFilter) -> list[BatchResult]:
        """Matching batches, ordered by start time."""
        ...

    async def get_batch(self, batch_id: str) -> BatchResult | None: ...

    async def power_curve(self, batch: BatchResult) -> PowerCurve: ...

    async def aggregates(self, by: AggregateKey, query: BatchFilter) -> list[Aggregate]: ...


@dataclass
class MemoryResultsSource:
    """Results and curves held in memory: the fake for unit tests and demos without a store."""

    results: list[BatchResult] = field(default_factory=list)
    curves: dict[str, dict[str, list[tuple[int, float]]]] = field(default_factory=dict)

    @classmethod
    def of(cls, results: Iterable[BatchResult]) -> MemoryResultsSource:
        return cls(results=list(results))

    async def list_batches(self, query: BatchFilter) -> list[BatchResult]:
        return sorted((r for r in self.results if query.matches(r)), key=lambda r: (r.start_ms, r.batch_id))

    async def get_batch(self, batch_id: str) -> BatchResult | None:
        return next((r for r in self.results if r.batch_id == batch_id), None)

    async def power_curve(self, batch: BatchResult) -> PowerCurve:
        series = self.curves.get(batch.batch_id, {})
        return PowerCurve(batch.batch_id, batch.start_ms, batch.end_ms, series)

    async def aggregates(self, by: AggregateKey, query: BatchFilter) -> list[Aggregate]:
        return aggregate(await self.list_batches(query), by)
