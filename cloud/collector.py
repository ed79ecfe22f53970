"""The collector: received messages -> checked -> points -> InfluxDB -> ack to the gateway.

Messages are checked and mapped as they arrive and gathered into a batch; a batch is
written when it holds `max_points` points or was opened `max_age_ms` ago. `writers` tasks
(two by default) write batches while the next one fills; batches are independent (each
acks its own seqs, and a point written twice is the same point), so their order does not
matter. Only after InfluxDB accepted
a batch are its messages acknowledged, one AckMessage per gateway per batch; a batch that
cannot be written is retried (capped backoff, Retry-After honoured) and never acked, so the
gateway keeps it in its outbox. A refused message is dead-lettered in the same batch and
acked with it, so it never blocks its gateway's stream. The collector keeps no state another
replica needs: acks and dead letters come from what this replica wrote.

Readings older than their block's settling (a draining outbox) go out with `block_stale`
marks in the same write, made at each attempt (cloud.blocks): a settled block that may lack
them is then read as readings until it is packed again.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from cloud import points
from cloud.blocks import DeviceBlocks, note_blocks, stale_marks
from cloud.influx import InfluxError, RejectedLine
from cloud.lineprotocol import LineProtocolError
from cloud.metrics import Metrics
from cloud.mqtt import Inbound
from cloud.validation import Readings, Refusal, check_message
from config.cloud import CloudConfig
from config.wire import AckMessage, TopicAddress, TopicKind, seq_ranges, topic

log = logging.getLogger(__name__)
M = "batchmeter_collector_"
RECEIVE_CHUNK = 32
"""Messages taken from the inbox at a time."""
LINES_PER_TURN = 1_000
"""Lines made between two turns of the event loop (~2-5 ms of parsing), so the writer's
HTTP exchange (sending a batch, reading InfluxDB's answer, acking), which needs several
turns, never waits behind a long backlog: with a turn per 32 messages of 100 readings,
every step of a write waited ~20-30 ms and InfluxDB sat idle half the time."""


class Inbox(Protocol):
    @property
    def depth(self) -> int: ...
    async def receive(self, max_items: int, wait_s: float) -> list[Inbound]: ...


class Store(Protocol):
    async def store(self, lines: list[str], precision: str = "ns") -> list[RejectedLine]: ...


class AckSink(Protocol):
    def publish(self, topic: str, payload: bytes) -> None: ...


@dataclass
class Batch:
    lines: list[str] = field(default_factory=list)
    acks: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    """(site, gateway) -> seqs to acknowledge once the lines are stored."""
    seen: set[tuple[str, str, str, int]] = field(default_factory=set)
    readings: int = 0
    events: int = 0
    oldest_ns: int = 0
    """When the batch's first message was received (for the ack lag)."""
    opened_ns: int = 0
    """When the batch took its first message: its age for `max_age_ms` counts from here."""
    device_blocks: DeviceBlocks = field(default_factory=dict)
    """The settled blocks its readings fall in, for the stale marks (cloud.blocks)."""

    def ack_later(self, site: str, gateway: str, seq: int) -> None:
        self.acks.setdefault((site, gateway), set()).add(seq)


def _no_marks() -> list[str]:
    return []


def collector_tag(client_id: str) -> str:
    """The client id as a tag value any InfluxDB accepts."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", client_id)[:64] or "collector"


class Collector:
    def __init__(
        self, config: CloudConfig, inbox: Inbox, store: Store, acks: AckSink, metrics: Metrics,
        collector_id: str, clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._config = config
        self._inbox, self._store, self._acks, self._metrics = inbox, store, acks, metrics
        self._collector = collector_tag(collector_id)
        self._clock_ns = clock_ns
        self._batch = Batch()
        self._full: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=2)
        self._give_up = asyncio.Event()
        self._last_dead_letter_ns = 0
        self._waiting_points = 0
        self._reading_lines = points.ReadingLines()

    # --- receiving (pure apart from the metrics) -------------------------------------
    def accept(self, item: Inbound) -> None:
        """Check one message and add its points, or its dead letter, to the open batch."""
        batch = self._batch
        if not batch.lines:
            batch.oldest_ns, batch.opened_ns = item.received_ns, self._clock_ns()
        received_ms = item.received_ns // 1_000_000
        checked = check_message(item.topic, item.payload, received_ms, self._config.validation)
        if isinstance(checked, Refusal):
            self._refuse(item, checked)
            return
        kind = "readings" if isinstance(checked, Readings) else "events"
        identity = (checked.site, checked.gateway, kind, checked.seq)
        if identity not in batch.seen:  # a replay within one batch: its points are already here
            try:
                lines = self._reading_lines.lines(checked) if isinstance(checked, Readings) else (
                    points.event_lines(checked))
            except LineProtocolError as exc:
                address = TopicAddress(checked.site, checked.gateway, TopicKind(kind))
                self._refuse(item, Refusal("unstorable", str(exc), address, checked.seq))
                return
            batch.seen.add(identity)
            batch.lines.extend(lines)
            if isinstance(checked, Readings):
                batch.readings += len(checked.readings)
                note_blocks(batch.device_blocks, checked.readings)
            else:
                batch.events += len(checked.events)
        batch.ack_later(checked.site, checked.gateway, checked.seq)
        self._metrics.inc(M + "messages_total", kind=kind, outcome="accepted")

    def _refuse(self, item: Inbound, refusal: Refusal) -> None:
        self._batch.lines.append(points.dead_letter_line(
            refusal.reason, self._collector, item.topic, item.payload, refusal.detail, self._unique_ns(),
            refusal.gateway, refusal.seq,
        ))
        address = refusal.address
        if address is not None and refusal.seq is not None:
            self._batch.ack_later(address.site, address.gateway, refusal.seq)
        self._metrics.inc(M + "rejected_total", reason=refusal.reason)
        kind = address.kind.value if address else "unknown"
        self._metrics.inc(M + "messages_total", kind=kind, outcome="refused")
        log.debug("dead-lettered a message on %r: %s: %s", item.topic, refusal.reason, refusal.detail)

    def _unique_ns(self) -> int:
        """Receipt time in ns, strictly increasing, so two dead letters never share a point."""
        now = max(self._clock_ns(), self._last_dead_letter_ns + 1)
        self._last_dead_letter_ns = now
        return now

    # --- the loop -------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Collect until `stop` is set, then write what was received (within the grace) and return."""
        writers = self._config.batching.writers
        writer = asyncio.gather(*(self._write_batches() for _ in range(writers)))
        deadline = asyncio.create_task(self._give_up_after(stop))
        try:
            await self._collect(stop, writer)
            if self._batch.lines:
                await self._hand_over()
            for _ in range(writers):
                await self._full.put(None)
            await writer
        finally:
            deadline.cancel()
            self._give_up.set()
            if not writer.done():
                writer.cancel()

    async def _collect(self, stop: asyncio.Event, writer: asyncio.Future[list[None]]) -> None:
        batching = self._config.batching
        made = 0
        while not stop.is_set() and not writer.done():
            for item in await self._inbox.receive(RECEIVE_CHUNK, self._wait_s(batching.max_age_ms)):
                before = len(self._batch.lines)
                self.accept(item)
                made += len(self._batch.lines) - before
                if len(self._batch.lines) >= batching.max_points:
                    await self._hand_over()
                if made >= LINES_PER_TURN:
                    # receive() returns at once while a backlog lasts; without these turns
                    # the writer would only run when the hand-over queue is full
                    made = 0
                    await asyncio.sleep(0)
            if self._batch.lines and self._age_ms() >= batching.max_age_ms:
                await self._hand_over()
            self._metrics.set(M + "inbound_depth", float(self._inbox.depth))
            await asyncio.sleep(0)

    async def _give_up_after(self, stop: asyncio.Event) -> None:
        await stop.wait()
        try:
            await asyncio.wait_for(self._give_up.wait(), self._config.batching.shutdown_grace_s)
        except TimeoutError:
            log.error("InfluxDB did not take the last batches in time; they stay unacknowledged")
            self._give_up.set()

    def _age_ms(self) -> float:
        """Since the batch was opened: under a backlog every message is old on arrival, and
        aging from receipt would hand over a sliver of a batch per loop turn."""
        return (self._clock_ns() - self._batch.opened_ns) / 1e6

    def _wait_s(self, max_age_ms: int) -> float:
        if not self._batch.lines:
            return 0.25
        return max(0.0, (max_age_ms - self._age_ms()) / 1000)

    async def _hand_over(self) -> None:
        batch, self._batch = self._batch, Batch()
        self._waiting_points += len(batch.lines)
        self._metrics.set(M + "queue_depth", float(self._waiting_points))
        await self._full.put(batch)

    async def _write_batches(self) -> None:
        while (batch := await self._full.get()) is not None:
            if await self._write(batch):
                self._acknowledge(batch)
            self._waiting_points -= len(batch.lines)
            self._metrics.set(M + "queue_depth", float(self._waiting_points))

    async def _write(self, batch: Batch) -> bool:
        """Store a batch (and dead letters for lines InfluxDB refused); False if given up."""
        lines = batch.lines
        marks = self._stale_marks(batch)
        while lines:
            refused = await self._store_with_retry(lines, marks)
            if refused is None:
                return False
            lines = [self._store_refusal(r) for r in refused]
            marks = _no_marks
        self._metrics.inc(M + "readings_total", batch.readings)
        self._metrics.inc(M + "events_total", batch.events)
        return True

    def _store_refusal(self, refused: RejectedLine) -> str:
        self._metrics.inc(M + "rejected_total", reason="store_rejected")
        log.warning("InfluxDB refused a line; dead-lettered: %s", refused.error)
        payload = refused.line.encode()
        return points.dead_letter_line("store_rejected", self._collector, "", payload, refused.error,
                                       self._unique_ns())

    def _stale_marks(self, batch: Batch) -> Callable[[], list[str]]:
        """The batch's `block_stale` marks as of the moment it is called (once per attempt)."""
        def marks() -> list[str]:
            found = stale_marks(batch.device_blocks, self._clock_ns() // 1_000_000)
            if found:
                self._metrics.inc(M + "stale_marks_total", len(found))
            return found

        return marks

    async def _store_with_retry(self, lines: list[str], marks: Callable[[], list[str]]
                                ) -> list[RejectedLine] | None:
        delay_ms = self._config.batching.retry_initial_ms
        while True:
            started = time.perf_counter()
            try:
                refused = await self._store.store(marks() + lines)
            except InfluxError as exc:
                pause = self._note_failure(exc, delay_ms)
                delay_ms = min(delay_ms * 2, self._config.batching.retry_max_ms)
                try:
                    async with asyncio.timeout(pause):  # not wait_for: it can swallow a cancel on 3.11
                        await self._give_up.wait()
                    return None
                except TimeoutError:
                    continue
            self._metrics.inc(M + "write_seconds_sum", time.perf_counter() - started)
            self._metrics.inc(M + "write_seconds_count")
            self._metrics.inc(M + "points_total", len(lines) - len(refused))
            self._metrics.set(M + "store_alarm", 0.0)
            return refused

    def _note_failure(self, exc: InfluxError, delay_ms: int) -> float:
        self._metrics.inc(M + "write_errors_total", status=str(exc.status))
        if exc.needs_operator:
            self._metrics.set(M + "store_alarm", 1.0)
            log.error("ALARM: InfluxDB refuses the collector (%s); data kept, not acknowledged", exc)
        else:
            log.warning("InfluxDB write failed (%s); retrying", exc)
        cap = self._config.batching.retry_max_ms / 1000
        return min(exc.retry_after, cap) if exc.retry_after is not None else delay_ms / 1000

    def _acknowledge(self, batch: Batch) -> None:
        for (site, gateway), seqs in batch.acks.items():
            ack = AckMessage(gateway=gateway, ranges=seq_ranges(seqs))
            self._acks.publish(topic(site, gateway, TopicKind.ACK), ack.model_dump_json().encode())
            self._metrics.inc(M + "acks_total")
            self._metrics.inc(M + "acked_seqs_total", len(seqs))
        if batch.oldest_ns:
            self._metrics.set(M + "ack_lag_seconds", (self._clock_ns() - batch.oldest_ns) / 1e9)
