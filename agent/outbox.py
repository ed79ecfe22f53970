"""The durable outbox: SQLite in WAL mode, the only place the agent keeps what it has accepted.

One transaction per poll cycle, committed before anything is published. `seq` is per
gateway, shared by readings and events, and survives restarts (kept in `meta`, so it
never goes back even when every message has been acknowledged and deleted).

Durability: a cycle's commit runs with `synchronous=FULL` (WAL fsynced at every commit), so
a committed cycle survives power loss, not only a process crash. NORMAL would survive a
crash but could lose the last commits to a power cut, and with them the `next_seq` already
published: after the restart the same seq would carry different readings and the
collector, idempotent by (gateway, seq), would drop them. The fsync is one per cycle (not
per device). Acknowledgements run with `synchronous=NORMAL`: a delete lost to a power cut
only means a re-send, which is idempotent; the next cycle's FULL commit syncs it anyway.

Size policy `drop_oldest_readings`: past `max_messages` or `max_bytes` the oldest
unacknowledged readings messages are deleted and counted; events are never dropped.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS message (
    seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL,
    items INTEGER NOT NULL, created_ms INTEGER NOT NULL, is_event INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_DELETE_ACKED = "DELETE FROM message WHERE seq BETWEEN ? AND ? RETURNING LENGTH(payload)"


class OutboxError(RuntimeError):
    """The outbox cannot be opened or written; the agent must not accept more readings."""


@dataclass(frozen=True, slots=True)
class Stored:
    seq: int
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class NewMessage:
    seq: int
    topic: str
    payload: bytes
    items: int
    is_event: bool


class Outbox:
    def __init__(self, path: Path, max_messages: int, max_bytes: int) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")  # a committed cycle survives power loss
            self.db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(f"outbox {path}: cannot open: {exc}") from exc
        self.path = path
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._next_seq = int(self._meta("next_seq", "1"))
        row = self.db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM message").fetchone()
        self.depth, self.bytes = int(row[0]), int(row[1])
        self.dropped_messages = int(self._meta("dropped_messages", "0"))
        self.dropped_readings = int(self._meta("dropped_readings", "0"))

    def _meta(self, key: str, default: str) -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    def next_seqs(self, n: int) -> list[int]:
        """Seqs for the next commit; they become permanent only when it succeeds."""
        return list(range(self._next_seq, self._next_seq + n))

    def load_state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(self._meta("detector_state", "{}"))
        return state

    def commit(self, messages: list[NewMessage], state: dict[str, Any] | None, now_ms: int) -> None:
        """Store one poll cycle's messages (and the detector state) in one transaction."""
        if not messages and state is None:
            return
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany(
                "INSERT INTO message VALUES (?, ?, ?, ?, ?, ?)",
                [(m.seq, m.topic, m.payload, m.items, now_ms, int(m.is_event)) for m in messages],
            )
            added = sum(len(m.payload) for m in messages)
            if messages:
                last = max(m.seq for m in messages) + 1
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('next_seq', ?)", (str(last),))
            if state is not None:
                self.db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('detector_state', ?)", (json.dumps(state),)
                )
            dropped = self._enforce_cap(self.depth + len(messages), self.bytes + added)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise OutboxError(f"outbox {self.path}: commit failed: {exc}") from exc
        if messages:
            self._next_seq = last
        self.depth += len(messages) - dropped[0]
        self.bytes += added - dropped[1]
        self.dropped_messages += dropped[0]
        self.dropped_readings += dropped[2]

    def _enforce_cap(self, depth: int, size: int) -> tuple[int, int, int]:
        """Delete the oldest readings messages until under the cap: (messages, bytes, readings)."""
        if depth <= self.max_messages and size <= self.max_bytes:
            return 0, 0, 0
        victims: list[tuple[int, int, int]] = []
        rows = self.db.execute(
            "SELECT seq, LENGTH(payload), items FROM message WHERE is_event = 0 ORDER BY seq"
        )
        for seq, length, items in rows:
            if depth <= self.max_messages and size <= self.max_bytes:
                break
            victims.append((seq, length, items))
            depth, size = depth - 1, size - length
        self.db.executemany("DELETE FROM message WHERE seq = ?", [(v[0],) for v in victims])
        counts = (len(victims), sum(v[1] for v in victims), sum(v[2] for v in victims))
        self.db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('dropped_messages', ?), ('dropped_readings', ?)",
            (str(self.dropped_messages + counts[0]), str(self.dropped_readings + counts[2])),
        )
        return counts

    def after(self, seq: int, limit: int) -> list[Stored]:
        """Stored messages with a seq above `seq`, oldest first."""
        rows = self.db.execute(
            "SELECT seq, topic, payload FROM message WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        )
        return [Stored(int(s), str(t), bytes(p)) for s, t, p in rows]

    def get(self, seq: int) -> Stored | None:
        row = self.db.execute("SELECT seq, topic, payload FROM message WHERE seq = ?", (seq,)).fetchone()
        return Stored(int(row[0]), str(row[1]), bytes(row[2])) if row else None

    def acknowledge(self, ranges: list[tuple[int, int]]) -> int:
        """Delete acknowledged messages; return how many were still here.

        Depth and bytes are kept as running counts from what the delete returns: a COUNT(*)
        and SUM over the table per ack would scan the whole backlog each time.
        """
        sizes: list[int] = []
        self.db.execute("PRAGMA synchronous=NORMAL")
        try:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                for first, last in ranges:
                    rows = self.db.execute(_DELETE_ACKED, (first, last))
                    sizes.extend(size for (size,) in rows)
        finally:
            self.db.execute("PRAGMA synchronous=FULL")
        self.depth -= len(sizes)
        self.bytes -= sum(sizes)
        return len(sizes)

    def oldest_age_s(self, now: float | None = None) -> float:
        row = self.db.execute("SELECT MIN(created_ms) FROM message").fetchone()
        if row[0] is None:
            return 0.0
        return max(0.0, (now if now is not None else time.time()) - float(row[0]) / 1000)

    def close(self) -> None:
        self.db.close()
