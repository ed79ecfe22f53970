"""The durable outbox: seq survives restarts, acks delete, the cap drops readings only."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.outbox import NewMessage, Outbox, OutboxError


def add(box: Outbox, n: int, is_event: bool = False, size: int = 10) -> list[int]:
    seqs = box.next_seqs(n)
    box.commit([NewMessage(s, "t/readings", b"x" * size, 3, is_event) for s in seqs], None, 1000)
    return seqs


def test_seq_continues_after_reopen_even_when_everything_was_acknowledged(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", 1000, 10**7)
    assert add(box, 3) == [1, 2, 3]
    assert box.acknowledge([(1, 3)]) == 3
    box.close()
    again = Outbox(tmp_path / "o.sqlite", 1000, 10**7)
    assert again.depth == 0
    assert add(again, 1) == [4]


def test_uncommitted_seqs_are_not_consumed(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", 1000, 10**7)
    assert box.next_seqs(2) == [1, 2]
    assert box.next_seqs(1) == [1]


def test_after_returns_oldest_first_and_ack_ranges_delete_only_those(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", 1000, 10**7)
    add(box, 6)
    box.acknowledge([(2, 3), (5, 5)])
    assert [m.seq for m in box.after(0, 10)] == [1, 4, 6]
    assert [m.seq for m in box.after(1, 1)] == [4]
    assert box.get(2) is None
    assert box.depth == 3


def test_cap_drops_oldest_readings_never_events_and_counts_them(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", 10, 10**7)
    add(box, 1, is_event=True)
    add(box, 12)
    assert box.depth == 10
    assert [m.seq for m in box.after(0, 3)] == [1, 5, 6]
    assert (box.dropped_messages, box.dropped_readings) == (3, 9)
    box.close()
    again = Outbox(tmp_path / "o.sqlite", 10, 10**7)
    assert (again.dropped_messages, again.dropped_readings) == (3, 9)


def test_detector_state_commits_with_the_cycle(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", 10, 10**7)
    box.commit([], {"batches": {"plc": {"batch_id": "B1"}}}, 1)
    box.close()
    assert Outbox(tmp_path / "o.sqlite", 10, 10**7).load_state()["batches"]["plc"]["batch_id"] == "B1"


def test_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutboxError, match="cannot open"):
        Outbox(blocker / "o.sqlite", 10, 10**7)
