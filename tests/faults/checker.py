"""Join what was sent, what the outboxes still hold and what InfluxDB stores; classify readings.

Identities (config/wire.py): a message is (gateway, seq); a reading value is
(gateway, device, quantity, ts_ms). InfluxDB keeps one point per series + timestamp, so
storing the same reading twice under its own identity is invisible and harmless: that is
the idempotence the design relies on. Double counting can therefore only show up as

- the same read stored under a second identity: a point whose identity nobody sent but
  whose values equal a sent read of the same device (a re-polled or re-stamped reading);
  the values of a meter read (counters, voltages, noisy powers) are unique enough per
  device to recognise one read, and the test publisher makes them unique on purpose;
- one seq carrying two different sets of readings (an agent that re-used a seq after a
  crash): both sets end up stored, and the `message` point can only count one of them.

Everything else is plain: a sent identity missing from InfluxDB is lost (or pending, if
the gateway's outbox still holds its message); a stored identity with a different value
is corrupted; a stored identity nobody sent and that matches no sent read is unexpected;
a sent seq without its `message` point is a lost message.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from config.wire import ReadingsMessage

Identity = tuple[str, str, str, int]  # gateway, device, quantity, ts_ms
Value = float | str


@dataclass(frozen=True)
class StoredPoint:
    """One `reading` point: the fields InfluxDB holds for (gateway, device, ts_ms)."""

    gateway: str
    device: str
    ts_ms: int
    fields: Mapping[str, Value]


@dataclass
class Verdict:
    sent: int = 0
    stored_once: int = 0
    lost: int = 0
    pending: int = 0
    duplicated: int = 0
    corrupted: int = 0
    unexpected: int = 0
    messages_sent: int = 0
    messages_lost: int = 0
    seq_conflicts: int = 0
    before_record: int = 0
    lost_seqs: set[tuple[str, int]] = field(default_factory=set)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def note(self, kind: str, what: object) -> None:
        if len(self.examples[kind]) < 5:
            self.examples[kind].append(repr(what))

    @property
    def clean(self) -> bool:
        return not (self.lost or self.pending or self.duplicated or self.corrupted
                    or self.messages_lost or self.seq_conflicts)

    def figures(self) -> dict[str, int]:
        return {
            "readings sent": self.sent, "stored once": self.stored_once, "lost": self.lost,
            "pending": self.pending, "duplicated": self.duplicated, "corrupted": self.corrupted,
            "unexpected": self.unexpected, "messages sent": self.messages_sent,
            "messages lost": self.messages_lost, "seq conflicts": self.seq_conflicts,
            "stored before the record began (not judged)": self.before_record,
        }

    def summary(self) -> str:
        parts = ", ".join(f"{k}={v}" for k, v in self.figures().items())
        return parts + "".join(f"\n  {k}: {v}" for k, v in self.examples.items())


def _same(a: Value, b: Value) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))
    return a == b


def _read_key(device: str, fields: Mapping[str, Value]) -> tuple[str, tuple[tuple[str, Value], ...]]:
    return device, tuple(sorted(fields.items()))


@dataclass
class _Sent:
    values: dict[Identity, Value] = field(default_factory=dict)
    seq_owner: dict[Identity, tuple[str, int]] = field(default_factory=dict)
    reads: dict[tuple[str, str], Counter[tuple[str, tuple[tuple[str, Value], ...]]]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    seq_content: dict[tuple[str, int], frozenset[Identity]] = field(default_factory=dict)


def _index_sent(messages: Iterable[ReadingsMessage], verdict: Verdict) -> _Sent:
    sent = _Sent()
    for message in messages:
        ids: set[Identity] = set()
        for reading in message.readings:
            if not reading.values:
                continue  # a failed read is a read_error point, not a reading
            ids_here = {(message.gateway, reading.device, q, reading.ts_ms) for q in reading.values}
            if not ids_here <= sent.values.keys():  # count each read once, however often re-sent
                sent.reads[(message.gateway, reading.device)][_read_key(reading.device, reading.values)] += 1
            for quantity, value in reading.values.items():
                identity = (message.gateway, reading.device, quantity, reading.ts_ms)
                sent.values[identity] = value
                sent.seq_owner.setdefault(identity, (message.gateway, message.seq))
                ids.add(identity)
        key = (message.gateway, message.seq)
        previous = sent.seq_content.get(key)
        if previous is not None and previous != frozenset(ids):
            verdict.seq_conflicts += 1
            verdict.note("seq conflicts", key)
        sent.seq_content.setdefault(key, frozenset(ids))
    return sent


def check(
    messages: Iterable[ReadingsMessage],
    stored: Iterable[StoredPoint],
    stored_seqs: Iterable[tuple[str, int]],
    pending_seqs: Iterable[tuple[str, int]] = (),
    observed_since_ms: int = 0,
) -> Verdict:
    """Classify every reading sent in `messages` against the `reading` points stored.

    `stored_seqs` are the (gateway, seq) of the `message` points InfluxDB holds;
    `pending_seqs` what the gateways' outboxes still hold unacknowledged. Stored points older
    than `observed_since_ms` that nobody is known to have sent are not judged: they predate
    the record (a wire tap that subscribed after the agent started).
    """
    verdict = Verdict()
    sent = _index_sent(messages, verdict)
    pending = set(pending_seqs)
    verdict.sent = len(sent.values)
    verdict.messages_sent = len(sent.seq_content)
    seqs_in_store = set(stored_seqs)
    for key in sent.seq_content:
        if key not in seqs_in_store and key not in pending:
            verdict.messages_lost += 1
            verdict.note("messages lost", key)
    held: dict[Identity, Value] = {}
    for point in stored:
        extra = {q: v for q, v in point.fields.items()
                 if (point.gateway, point.device, q, point.ts_ms) not in sent.values}
        if extra and point.ts_ms < observed_since_ms:
            verdict.before_record += len(extra)
        elif extra and len(extra) == len(point.fields):
            _classify_foreign(point, sent, verdict)
        elif extra:
            verdict.unexpected += len(extra)
            verdict.note("unexpected", (point.gateway, point.device, point.ts_ms, sorted(extra)))
        for quantity, value in point.fields.items():
            held[(point.gateway, point.device, quantity, point.ts_ms)] = value
    for identity, value in sent.values.items():
        if identity not in held:
            if sent.seq_owner[identity] in pending:
                verdict.pending += 1
            else:
                verdict.lost += 1
                verdict.lost_seqs.add(sent.seq_owner[identity])
                verdict.note("lost", (identity, "seq", sent.seq_owner[identity]))
        elif _same(held[identity], value):
            verdict.stored_once += 1
        else:
            verdict.corrupted += 1
            verdict.note("corrupted", (identity, value, held[identity]))
    return verdict


def _classify_foreign(point: StoredPoint, sent: _Sent, verdict: Verdict) -> None:
    """A point at an identity nobody sent: a second copy of a sent read, or something else.

    Only a read whose values occur once among the device's sent reads identifies that read; an
    idle controller repeats its values every poll, so a match there proves nothing.
    """
    copies = sent.reads.get((point.gateway, point.device), Counter())
    if copies[_read_key(point.device, point.fields)] == 1:
        verdict.duplicated += len(point.fields)
        verdict.note("duplicated", (point.gateway, point.device, point.ts_ms))
    else:
        verdict.unexpected += len(point.fields)
        verdict.note("unexpected", (point.gateway, point.device, point.ts_ms, dict(point.fields)))


@dataclass(frozen=True)
class BatchError:
    batch_id: str
    ledger_kwh: float
    report_kwh: float | None

    @property
    def error_kwh(self) -> float | None:
        return None if self.report_kwh is None else self.report_kwh - self.ledger_kwh

    @property
    def relative(self) -> float | None:
        err = self.error_kwh
        if err is None:
            return None
        return abs(err) / self.ledger_kwh if self.ledger_kwh else abs(err)


def compare_batches(ledger: Iterable[Mapping[str, object]], report: Iterable[Mapping[str, object]]
                    ) -> list[BatchError]:
    """Each ledger batch's energy against the report's (None where the report lacks it)."""
    reported = {str(b["batch_id"]): b for b in report}
    out = []
    for batch in ledger:
        found = reported.get(str(batch["batch_id"]))
        value = None if found is None else float(found["energy_kwh"])  # type: ignore[arg-type]
        out.append(BatchError(str(batch["batch_id"]), float(batch["energy_kwh"]),  # type: ignore[arg-type]
                              value))
    return out


def worst_relative_error(errors: list[BatchError]) -> float:
    """The largest relative batch energy error; a batch missing from the report counts as 1."""
    return max((1.0 if e.relative is None else e.relative for e in errors), default=0.0)
