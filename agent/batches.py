"""Event detection (pure, time passed in): batch boundaries, weighings, counter discontinuities.

`Detector.observe` takes one poll cycle's readings and returns the events they imply, as
wire event models. Its memory of lines and weigh stations is a small JSON-able dict that
the outbox commits in the same transaction as the events, so a restart neither repeats
nor forgets a boundary; counter history is in memory only (the first read after a start
just records).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from config.codec import DataType
from config.profile import Profile, Register
from config.quantities import QUANTITIES, Kind
from config.wire import BatchEnded, BatchStarted, CounterDiscontinuity, DeviceFault, ScrapWeighed

WireEvent = BatchStarted | BatchEnded | ScrapWeighed | DeviceFault | CounterDiscontinuity
Values = Mapping[str, float | str]

_INT_BITS = {DataType.U16: 16, DataType.U32: 32, DataType.U64: 64, DataType.I16: 15, DataType.I32: 31,
             DataType.I64: 63}


@dataclass(frozen=True, slots=True)
class Seen:
    """One device's successful read in this cycle (failed reads are not passed in)."""

    device: str
    ts_ms: int
    values: Values


def wrap_value(reg: Register) -> float | None:
    """Where a counter register wraps to 0, in canonical units, if it is known."""
    if reg.rollover is not None:
        return reg.rollover
    bits = reg.counter_bits or _INT_BITS.get(reg.type)
    return None if bits is None else (2**bits) * reg.scale


def classify_drop(before: float, after: float, wrap: float | None) -> str:
    """Why a counter went down: rollover near its register width, reset near 0, else unexplained."""
    if wrap is not None and before >= 0.9 * wrap and after <= 0.1 * wrap:
        return "rollover"
    if after <= max(0.01 * before, 1e-9):
        return "reset"
    return "unexplained"


@dataclass
class _Role:
    line: str | None
    counters: dict[str, float | None] = field(default_factory=dict)
    """counter quantity -> its wrap value (None if unknown)"""
    energy: tuple[str, ...] = ()
    controller: bool = False
    weigh_station: bool = False


class Detector:
    def __init__(self, devices: Mapping[str, tuple[str | None, Profile]]) -> None:
        """`devices`: device id -> (line or None, profile)."""
        self.roles: dict[str, _Role] = {}
        for device, (line, profile) in devices.items():
            counters = {q: wrap_value(r) for q, r in profile.registers.items()
                        if profile.kind(q) is Kind.COUNTER}
            self.roles[device] = _Role(
                line=line,
                counters=counters,
                energy=tuple(q for q in counters if QUANTITIES[q][0] == "kWh"),
                controller="batch_id" in profile.registers and "line_state" in profile.registers,
                weigh_station="weighing_seq" in profile.registers,
            )
        self.state: dict[str, Any] = {"batches": {}, "weighings": {}}
        self.last_counters: dict[tuple[str, str], float] = {}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.state = {"batches": dict(state.get("batches", {})),
                      "weighings": dict(state.get("weighings", {}))}

    def observe(self, cycle: list[Seen]) -> list[WireEvent]:
        events: list[WireEvent] = []
        for seen in cycle:
            role = self.roles.get(seen.device)
            if role is None:
                continue
            try:
                if role.counters:
                    events.extend(self._counters(seen, role))
                if role.controller and role.line:
                    events.extend(self._batch(seen, role.line, cycle))
                if role.weigh_station:
                    events.extend(self._weighing(seen, role.line))
            except ValidationError as exc:  # a device value the wire refuses (e.g. a bad line id)
                detail = f"event not built: {exc.errors()[0]['loc']} {exc.errors()[0]['msg']}"
                events.append(DeviceFault(ts_ms=seen.ts_ms, device=seen.device, detail=detail[:200]))
        return events

    def _counters(self, seen: Seen, role: _Role) -> list[WireEvent]:
        events: list[WireEvent] = []
        for quantity, wrap in role.counters.items():
            value = seen.values.get(quantity)
            if not isinstance(value, float):
                continue
            key = (seen.device, quantity)
            before = self.last_counters.get(key)
            self.last_counters[key] = value
            if before is not None and value < before:
                events.append(CounterDiscontinuity(
                    ts_ms=seen.ts_ms, device=seen.device, quantity=quantity, before=before,
                    after=value, classification=classify_drop(before, value, wrap),
                ))
        return events

    def snapshot(self, line: str, cycle: list[Seen]) -> dict[str, dict[str, float]]:
        """The line's energy counters as read in this cycle: device -> quantity -> value."""
        counters: dict[str, dict[str, float]] = {}
        for seen in cycle:
            role = self.roles.get(seen.device)
            if role is None or role.line != line:
                continue
            values = {q: v for q in role.energy if isinstance(v := seen.values.get(q), float)}
            if values:
                counters[seen.device] = values
        return counters

    def _batch(self, seen: Seen, line: str, cycle: list[Seen]) -> list[WireEvent]:
        running: dict[str, str] | None = self.state["batches"].get(seen.device)
        batch_id = str(seen.values.get("batch_id", "")).strip()
        state = str(seen.values.get("line_state", ""))
        active = bool(batch_id) and state not in ("idle", "")
        events: list[WireEvent] = []
        if running and (not active or running["batch_id"] != batch_id):
            events.append(BatchEnded(
                ts_ms=seen.ts_ms, device=seen.device, line=line, batch_id=running["batch_id"],
                product=running.get("product", ""), good_units=_number(seen.values.get("good_units")),
                reject_units=_number(seen.values.get("reject_units")), counters=self.snapshot(line, cycle),
            ))
            running = None
        if active and running is None:
            product = str(seen.values.get("product_code", ""))[:64]
            events.append(BatchStarted(
                ts_ms=seen.ts_ms, device=seen.device, line=line, batch_id=batch_id[:64], product=product,
                counters=self.snapshot(line, cycle),
            ))
            running = {"batch_id": batch_id[:64], "product": product}
        if running is None:
            self.state["batches"].pop(seen.device, None)
        else:
            self.state["batches"][seen.device] = running
        return events

    def _weighing(self, seen: Seen, line: str | None) -> list[WireEvent]:
        number = _number(seen.values.get("weighing_seq"))
        if number is None:
            return []
        values = seen.values
        mass = _number(values.get("ticket_net_kg"))
        if mass is None:
            mass = _number(values.get("weight_net_kg"))
        previous = self.state["weighings"].get(seen.device)
        if previous is not None and int(number) != previous and mass is None:
            return []  # the ticket is unreadable this cycle: keep the old seq and look again next cycle
        self.state["weighings"][seen.device] = int(number)
        if previous is None or int(number) == previous:
            return []
        ticket_line = values.get("ticket_line")
        batch = values.get("ticket_batch_id")
        events: list[WireEvent] = [ScrapWeighed(
            ts_ms=seen.ts_ms, device=seen.device,
            line=str(ticket_line) if isinstance(ticket_line, str) and ticket_line else line,
            weighing_seq=int(number), mass_kg=max(mass or 0.0, 0.0),  # mass is known here
            category=str(values.get("scrap_category", "unknown"))[:64],
            destination=str(values.get("scrap_destination", "unknown"))[:64],
            batch_id=str(batch)[:64] if isinstance(batch, str) and batch else None,
        )]
        if int(number) - previous > 1:
            events.append(DeviceFault(
                ts_ms=seen.ts_ms, device=seen.device,
                detail=f"weighings {previous + 1}..{int(number) - 1} were not read (only the last is)",
            ))
        return events


def _number(value: float | str | None) -> float | None:
    return value if isinstance(value, float) else None
