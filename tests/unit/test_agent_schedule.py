"""Clock-aligned ticks, the shared ticker, quarantine backoff and the cycle assembler."""

from __future__ import annotations

import asyncio
import time

from agent.cycle import CycleAssembler
from agent.poller import Ticker
from agent.schedule import Quarantine, backoff_s, base_period_ms, interval_ms, is_due, next_tick


def test_ticks_are_aligned_to_the_clock() -> None:
    assert next_tick(1_000_050, 200) == 1_000_200
    assert next_tick(1_000_200, 200) == 1_000_400
    assert base_period_ms([interval_ms(0.2), interval_ms(1.0), interval_ms(0.3)]) == 100
    assert is_due(3000, 1000)
    assert not is_due(3200, 1000)


def test_quarantine_doubles_to_its_cap_and_one_success_frees() -> None:
    q = Quarantine(every_ms=1000, cap_ms=5000)
    assert q.failed(0) is True
    assert q.until_ms == 1000
    assert q.failed(1000) is False
    assert q.until_ms == 3000
    assert not q.allows(2000)
    assert q.allows(3000)
    q.failed(3000)
    q.failed(7000)
    assert q.until_ms == 12000
    assert q.succeeded() is True
    assert q.allows(0)
    assert q.succeeded() is False


def test_backoff_is_capped() -> None:
    assert [backoff_s(a, 0.5, 3.0) for a in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_cycle_flushes_only_when_every_connection_released_it() -> None:
    flushed: list[tuple[int, list[str]]] = []
    cycles: CycleAssembler[str] = CycleAssembler(["a", "b"], lambda t, r: flushed.append((t, r)))
    cycles.release("a", 100)
    cycles.release("b", 100)
    cycles.report("a", 100, ["a1"])
    cycles.release("a", 101)
    assert flushed == []
    cycles.report("b", 100, ["b1"])
    cycles.release("b", 300)  # b had nothing due at 200
    assert flushed == [(100, ["a1", "b1"])]
    cycles.report("a", 200, ["a2"])
    cycles.release("a", 201)
    assert flushed[-1] == (200, ["a2"])


async def test_one_tick_wakes_every_owner_waiting_for_it_and_a_cancel_wakes_no_other() -> None:
    ticker = Ticker(time.time)
    tick_ms = (int(time.time() * 1000) // 50 + 2) * 50  # 50-100 ms ahead
    woken: list[int] = []

    async def owner(n: int) -> None:
        await ticker.until(tick_ms)
        woken.append(n)
        assert time.time() * 1000 >= tick_ms

    tasks = [asyncio.create_task(owner(n)) for n in range(3)]
    await asyncio.sleep(0)  # all three are waiting
    tasks[1].cancel()
    await asyncio.wait(tasks, timeout=5)
    assert woken == [0, 2]
    assert tasks[1].cancelled()


async def test_a_tick_already_past_does_not_wait() -> None:
    ticker = Ticker(time.time)
    async with asyncio.timeout(1):
        await ticker.until(int(time.time() * 1000) - 1000)
