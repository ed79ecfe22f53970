"""The collector's core with fakes: ack only after a successful write, dead letters, retries."""

from __future__ import annotations

import asyncio

from cloud.blocks import BLOCK_MS, SETTLE_DELAY_MS
from cloud.collector import Collector
from cloud.influx import InfluxError, RejectedLine
from cloud.metrics import Metrics
from cloud.mqtt import Inbound
from config.cloud import CloudConfig
from config.wire import AckMessage, Reading, ReadingsMessage, TopicKind, topic

NOW_NS = 1_700_000_000_000 * 1_000_000
TOPIC = topic("s1", "gw1", TopicKind.READINGS)


class FakeInbox:
    def __init__(self, items: list[Inbound]) -> None:
        self.items = items
        self.empty = asyncio.Event()

    @property
    def depth(self) -> int:
        return len(self.items)

    async def receive(self, max_items: int, wait_s: float) -> list[Inbound]:
        taken, self.items = self.items[:max_items], self.items[max_items:]
        if not taken:
            self.empty.set()
            await asyncio.sleep(0)  # let the writer task run between polls of the fake
        return taken


class FakeStore:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.stored: list[str] = []

    async def store(self, lines: list[str], precision: str = "ns") -> list[RejectedLine]:
        if self.failures:
            self.failures -= 1
            raise InfluxError(503, "down", retry_after=0.001)
        self.stored.extend(lines)
        return []


class FakeAcks:
    def __init__(self) -> None:
        self.sent: list[tuple[str, AckMessage]] = []

    def publish(self, name: str, payload: bytes) -> None:
        self.sent.append((name, AckMessage.model_validate_json(payload)))


def message(seq: int) -> Inbound:
    body = ReadingsMessage(
        site="s1",
        gateway="gw1",
        seq=seq,
        readings=[Reading(device="m1", ts_ms=NOW_NS // 1_000_000, values={"p": 1.0})],
    )
    return Inbound(TOPIC, body.model_dump_json().encode(), NOW_NS)


async def collect(items: list[Inbound], store: FakeStore) -> tuple[FakeAcks, Metrics]:
    config = CloudConfig.model_validate({"batching": {"max_age_ms": 1, "retry_initial_ms": 1}})
    acks, metrics, inbox = FakeAcks(), Metrics(), FakeInbox(items)
    collector = Collector(config, inbox, store, acks, metrics, "c 1", clock_ns=lambda: NOW_NS)
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop))
    await asyncio.wait_for(inbox.empty.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 5)
    return acks, metrics


async def test_messages_are_acked_after_they_are_stored_and_replays_written_once() -> None:
    store = FakeStore()
    acks, _ = await collect([message(1), message(2), message(1), message(3)], store)
    assert [(name, a.ranges) for name, a in acks.sent] == [(topic("s1", "gw1", TopicKind.ACK), [(1, 3)])]
    assert sum(line.startswith("reading,") for line in store.stored) == 3


async def test_a_failed_write_is_retried_and_acked_only_after_success() -> None:
    store = FakeStore(failures=3)
    acks, metrics = await collect([message(1)], store)
    assert metrics.total("batchmeter_collector_write_errors_total") == 3
    assert [a.ranges for _, a in acks.sent] == [[(1, 1)]]


async def test_a_bad_message_is_dead_lettered_counted_and_acked() -> None:
    store = FakeStore()
    bad = Inbound(TOPIC, b'{"site": "s1", "gateway": "gw1", "seq": 9, "readings": "nope"}', NOW_NS)
    acks, metrics = await collect([bad, Inbound("x/y", b"\x00", NOW_NS)], store)
    assert metrics.value("batchmeter_collector_rejected_total", reason="bad_schema") == 1
    assert metrics.value("batchmeter_collector_rejected_total", reason="bad_topic") == 1
    dead = [line for line in store.stored if line.startswith("dead_letter,collector=c_1,")]
    assert len(dead) == 2
    assert len({line.rsplit(" ", 1)[1] for line in dead}) == 2
    assert [a.ranges for _, a in acks.sent] == [[(9, 9)]]


def test_the_example_cloud_config_loads_and_resolves_plant_file() -> None:
    from pathlib import Path

    from config.cloud import load_cloud_config

    example = Path(__file__).parents[2] / "config" / "examples" / "cloud.yaml"
    config = load_cloud_config(example)
    assert config.plant_file == example.parent.resolve() / "plant.yaml"
    assert config.mqtt.share_group == "batchmeter"


def test_a_typo_in_the_cloud_config_names_the_key_and_line() -> None:
    import pytest

    from config.cloud import CloudConfig
    from config.loader import ConfigError, load_text

    with pytest.raises(ConfigError, match=r"line 2, key influx.databse: unknown key"):
        load_text(CloudConfig, "influx:\n  databse: x\n", "cloud.yaml")


def reading_at(seq: int, ts_ms: int) -> Inbound:
    body = ReadingsMessage(site="s1", gateway="gw1", seq=seq,
                           readings=[Reading(device="m1", ts_ms=ts_ms, values={"p": 1.0})])
    return Inbound(TOPIC, body.model_dump_json().encode(), NOW_NS)


def marks(store: FakeStore) -> list[str]:
    return [line for line in store.stored if line.startswith("block_stale,")]


async def test_readings_whose_block_may_be_settled_are_written_with_a_stale_mark() -> None:
    now_ms = NOW_NS // 1_000_000
    long_ago = now_ms - 2 * BLOCK_MS
    store = FakeStore()
    await collect([reading_at(1, now_ms), reading_at(2, long_ago), reading_at(3, long_ago + 1)], store)
    start = long_ago - long_ago % BLOCK_MS
    assert marks(store) == [f"block_stale,device=m1 marked_at_ms={float(now_ms)!r} {start * 1_000_000}"]

    fresh = FakeStore()
    await collect([reading_at(1, now_ms), reading_at(2, now_ms - 60_000)], fresh)
    assert marks(fresh) == []


async def test_a_retried_write_marks_by_the_clock_of_the_attempt_that_stores_it() -> None:
    # InfluxDB is down for longer than a block and the settle delay: readings fresh at the
    # first attempt may be in a block packed meanwhile, so the attempt that succeeds carries
    # their mark
    clock = [NOW_NS]

    class SlowStore(FakeStore):
        async def store(self, lines: list[str], precision: str = "ns") -> list[RejectedLine]:
            if self.failures:
                clock[0] += (BLOCK_MS + SETTLE_DELAY_MS) * 1_000_000
            return await super().store(lines, precision)

    store = SlowStore(failures=1)
    config = CloudConfig.model_validate({"batching": {"max_age_ms": 1, "retry_initial_ms": 1}})
    inbox = FakeInbox([reading_at(1, NOW_NS // 1_000_000 - 60_000)])
    collector = Collector(config, inbox, store, FakeAcks(), Metrics(), "c 1", clock_ns=lambda: clock[0])
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop))
    await asyncio.wait_for(inbox.empty.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert [line.split(" ")[1] for line in marks(store)] == [f"marked_at_ms={float(clock[0] // 1_000_000)!r}"]
