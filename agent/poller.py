"""Polling: one owner per connection, serving one request at a time, ticking on the clock.

A connection's owner walks its due devices in order; a device that fails is quarantined
(`schedule.Quarantine`) so it costs the bus at most one request timeout per backoff step,
and the others keep their period. A lost link reconnects with capped backoff, at most once
per tick, so a dead gateway never becomes a connect storm. Connections run concurrently.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.modbus import ILLEGAL_ADDRESS, LinkDown, ModbusLink, ReadFailed, ReadRefused
from agent.plan import Block, decode_block, plan_profile, split_block
from agent.schedule import Quarantine, backoff_s, interval_ms, is_due, next_tick
from config.gateway import Device
from config.profile import Profile

log = logging.getLogger("batchmeter.agent")


@dataclass(slots=True)
class Polled:
    """One device's result in one tick: values (possibly none), or the reason there are none."""

    device: str
    ts_ms: int
    values: dict[str, float | str]
    error: str | None = None
    stale: bool = False
    fault: str | None = None
    """A change of device health worth an event: `no response ...` or `recovered`."""


@dataclass
class DeviceStats:
    polls: int = 0
    ok: int = 0
    errors: int = 0
    skipped: int = 0
    missed: int = 0
    last_latency_s: float = 0.0
    exceptions: dict[str, int] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)


REPLAN_AFTER_POLLS = 20
"""Polls after a split before the full plan is tried again."""


class DevicePoller:
    def __init__(self, device: Device, profile: Profile, retries: int, backoff_cap: float) -> None:
        self.device = device
        self.profile = profile
        self.planned: list[Block] = plan_profile(profile)
        self.blocks: list[Block] = list(self.planned)
        self.polls_since_split: int | None = None
        """None while the planned blocks are read; else polls since a refused block was split."""
        self.every_ms = interval_ms(device.poll_interval)
        self.retries = retries
        self.quarantine = Quarantine(self.every_ms, max(self.every_ms, int(backoff_cap * 1000)))
        self.stats = DeviceStats()
        self.last_tick = 0

    async def poll(self, link: ModbusLink, tick_ms: int, clock: Callable[[], float],
                   deadline: float = float("inf")) -> Polled:
        """Read every block; a refused block is split, any other failure fails the whole read.

        No retry starts that could not finish by `deadline` (the connection's next tick).
        """
        values: dict[str, float | str] = {}
        ts_ms = 0
        started = clock()
        self._retry_the_plan()
        queue = list(self.blocks)
        self.stats.polls += 1
        try:
            while queue:
                block = queue.pop(0)
                sent = clock()
                words = await self._read_block(link, block, queue, clock, deadline)
                if words is None:
                    continue
                if not ts_ms:
                    ts_ms = int((sent + clock()) * 500)  # midpoint of the first exchange, in ms
                for quantity in decode_block(block, words, values):
                    self._note(f"decode:{quantity}")
        except ReadFailed as exc:
            return self._failed(tick_ms, int(started * 1000), exc)
        self.stats.last_latency_s = clock() - started
        self.stats.ok += 1
        ts_ms = ts_ms or int(started * 1000)
        fault = "recovered" if self.quarantine.succeeded() else None
        return Polled(self.device.id, ts_ms, values, stale=ts_ms > tick_ms + self.every_ms, fault=fault)

    async def _read_block(self, link: ModbusLink, block: Block, queue: list[Block],
                          clock: Callable[[], float], deadline: float) -> list[int] | None:
        for attempt in range(self.retries + 1):
            try:
                return await link.read(block.function, self.device.unit, block.address, block.count)
            except ReadRefused as exc:
                self._note(exc.reason)
                if exc.code != ILLEGAL_ADDRESS:
                    raise
                self._split(block, queue)
                return None
            except LinkDown:
                raise
            except ReadFailed as exc:
                self._note(exc.reason)
                if attempt == self.retries or clock() + link.connection.timeout > deadline:
                    raise
                await asyncio.sleep(backoff_s(attempt, 0.01, 0.2))
        return None

    def _retry_the_plan(self) -> None:
        """Go back to the planned blocks now and then after a split.

        Exception 02 can be transient (a meter rebooting, a gateway mid-reconfiguration):
        taking it as a fact of the register map for good would stop reading energy forever.
        """
        if self.polls_since_split is None:
            return
        self.polls_since_split += 1
        if self.polls_since_split > REPLAN_AFTER_POLLS:
            self.blocks = list(self.planned)
            self.stats.unreadable.clear()
            self.polls_since_split = None

    def _split(self, block: Block, queue: list[Block]) -> None:
        """Replace a refused block by its halves until the plan is retried; a lone refused
        register is dropped until then."""
        halves = split_block(block, self.profile)
        self.polls_since_split = 0
        index = self.blocks.index(block)
        self.blocks[index : index + 1] = halves
        queue[0:0] = halves
        if not halves:
            quantity = block.slots[0].quantity
            self.stats.unreadable.append(quantity)
            log.warning("device %s: %s refused with exception 02; not read for %d polls",
                        self.device.id, quantity, REPLAN_AFTER_POLLS)

    def _note(self, reason: str) -> None:
        self.stats.exceptions[reason] = self.stats.exceptions.get(reason, 0) + 1

    def _failed(self, tick_ms: int, ts_ms: int, exc: ReadFailed) -> Polled:
        self.stats.errors += 1
        fault = f"no values: {exc.reason}" if self.quarantine.failed(tick_ms) else None
        return Polled(self.device.id, ts_ms, {}, error=exc.reason, fault=fault)


class Ticker:
    """Wakes every connection owner waiting for the same tick with one timer, not one each.

    Fifty owners ticking on the same wall-clock second used to arm fifty timers per tick.
    The timer re-checks the wall clock at least every second, so a clock step is seen in time.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._waiting: dict[int, list[asyncio.Future[None]]] = {}

    async def until(self, tick_ms: int) -> None:
        if tick_ms / 1000 <= self.clock():
            return
        # a future per waiter: cancelling one owner must not cancel the others' wait
        waiter = asyncio.get_running_loop().create_future()
        waiters = self._waiting.get(tick_ms)
        if waiters is not None:
            waiters.append(waiter)
        else:
            self._waiting[tick_ms] = [waiter]
            self._arm(tick_ms)
        await waiter

    def _arm(self, tick_ms: int) -> None:
        wait = tick_ms / 1000 - self.clock()
        if wait > 0:
            asyncio.get_running_loop().call_later(min(wait, 1.0), self._arm, tick_ms)
            return
        for waiter in self._waiting.pop(tick_ms, []):
            if not waiter.done():
                waiter.set_result(None)


Report = Callable[[str, int, list[Polled]], None]
"""(connection, tick, results) -> None: hands a tick's results to the cycle assembler."""
Release = Callable[[str, int], None]
"""(connection, tick): this connection will report nothing for ticks before `tick`."""


class ConnectionOwner:
    def __init__(self, name: str, link: ModbusLink, devices: list[DevicePoller], base_ms: int,
                 backoff_cap: float, ticker: Ticker) -> None:
        self.name = name
        self.ticker = ticker
        self.link = link
        self.devices = devices
        self.base_ms = base_ms
        self.backoff_cap = backoff_cap
        self.clock = ticker.clock
        self.reconnects = 0
        self.tick_durations: deque[float] = deque(maxlen=100)
        """How long recent ticks took: near the base period means the bus is nearly full."""
        self._down_since_attempts = 0
        self._retry_link_at = 0.0

    def due(self, tick_ms: int) -> list[DevicePoller]:
        return [d for d in self.devices if is_due(tick_ms, d.every_ms)]

    async def run(self, report: Report, release: Release) -> None:
        last = 0
        while True:
            tick = next_tick(max(int(self.clock() * 1000), last), self.base_ms)
            while not (due := self.due(tick)):
                tick += self.base_ms
            self._count_missed(last, tick)
            release(self.name, tick)
            await self.ticker.until(tick)
            started = self.clock()
            results = await self.poll_tick(tick, due)
            self.tick_durations.append(self.clock() - started)
            report(self.name, tick, results)
            release(self.name, tick + 1)
            last = tick

    def _count_missed(self, last: int, tick: int) -> None:
        """Ticks skipped because the previous one overran: each due device missed a poll."""
        if not last:
            return
        for device in self.devices:
            device.stats.missed += max(0, (tick - last) // device.every_ms - 1)

    async def poll_tick(self, tick_ms: int, due: list[DevicePoller]) -> list[Polled]:
        results: list[Polled] = []
        deadline = (tick_ms + self.base_ms) / 1000
        # The healthy first: a failing device's timeouts then cost only the tail of the tick.
        for device in sorted(due, key=lambda d: d.quarantine.failures > 0):
            if not device.quarantine.allows(tick_ms):
                device.stats.skipped += 1
                continue
            if not self.link.connected and self.clock() < self._retry_link_at:
                results.append(Polled(device.device.id, int(self.clock() * 1000), {}, error="disconnected"))
                continue
            result = await device.poll(self.link, tick_ms, self.clock, deadline)
            if result.error == "disconnected":
                self._link_lost()
            elif self.link.connected:
                self._down_since_attempts = 0
            results.append(result)
        return results

    def _link_lost(self) -> None:
        self.link.close()
        self.reconnects += 1
        self._retry_link_at = self.clock() + backoff_s(self._down_since_attempts, 0.5, self.backoff_cap)
        self._down_since_attempts += 1
