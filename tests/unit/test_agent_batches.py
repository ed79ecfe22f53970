"""Event detection: batch boundaries with the line's counters, weighings, counter drops."""

from __future__ import annotations

from agent.batches import Detector, Seen, classify_drop
from config.profile import load_profile
from config.wire import BatchEnded, BatchStarted, CounterDiscontinuity, DeviceFault, ScrapWeighed


def detector() -> Detector:
    return Detector({
        "plc": ("l1", load_profile("line_controller")),
        "m1": ("l1", load_profile("sdm630")),
        "m2": ("l2", load_profile("sdm630")),
        "scale": ("l1", load_profile("weigh_station")),
    })


def cycle(ts: int, state: str, batch: str, m1: float, m2: float = 5.0, good: float = 0.0) -> list[Seen]:
    return [
        Seen("plc", ts, {"line_state": state, "batch_id": batch, "product_code": "P", "good_units": good}),
        Seen("m1", ts + 3, {"energy_import_kwh": m1, "power_w": 10.0}),
        Seen("m2", ts + 4, {"energy_import_kwh": m2}),
    ]


def test_start_and_end_carry_the_same_cycle_counters_of_that_line_only() -> None:
    d = detector()
    assert d.observe(cycle(1000, "idle", "", 10.0)) == []
    [started] = d.observe(cycle(2000, "running", "B1", 11.0))
    assert isinstance(started, BatchStarted)
    assert (started.batch_id, started.line, started.ts_ms) == ("B1", "l1", 2000)
    assert started.counters == {"m1": {"energy_import_kwh": 11.0}}
    assert d.observe(cycle(3000, "running", "B1", 12.0)) == []
    [ended] = d.observe(cycle(4000, "idle", "B1", 13.0, good=9.0))
    assert isinstance(ended, BatchEnded)
    assert ended.counters == {"m1": {"energy_import_kwh": 13.0}}
    assert ended.good_units == 9.0


def test_setup_state_starts_and_a_new_batch_id_ends_the_old_one() -> None:
    d = detector()
    assert [e.kind for e in d.observe(cycle(1, "setup", "B1", 1.0))] == ["batch_started"]
    events = d.observe(cycle(2, "running", "B2", 2.0))
    assert [(e.kind, getattr(e, "batch_id", None)) for e in events] == [
        ("batch_ended", "B1"), ("batch_started", "B2")]


def test_a_restored_detector_neither_repeats_nor_forgets_a_running_batch() -> None:
    d = detector()
    d.observe(cycle(1, "running", "B1", 1.0))
    again = detector()
    again.restore(d.state)
    assert again.observe(cycle(2, "running", "B1", 2.0)) == []
    assert [e.kind for e in again.observe(cycle(3, "idle", "", 3.0))] == ["batch_ended"]


def test_missing_controller_reading_changes_nothing() -> None:
    d = detector()
    d.observe(cycle(1, "running", "B1", 1.0))
    assert d.observe([Seen("m1", 2, {"energy_import_kwh": 2.0})]) == []
    assert d.state["batches"]["plc"]["batch_id"] == "B1"


def scale(ts: int, seq: float, mass: float | None = 12.5) -> list[Seen]:
    values: dict[str, float | str] = {"weighing_seq": seq, "scrap_category": "edge_trim",
                                      "scrap_destination": "recycling", "ticket_batch_id": "B1"}
    if mass is not None:
        values["ticket_net_kg"] = mass
    return [Seen("scale", ts, values)]


def test_first_weighing_read_only_records_then_a_change_is_one_event() -> None:
    d = detector()
    assert d.observe(scale(1, 7.0)) == []
    assert d.observe(scale(2, 7.0)) == []
    [event] = d.observe(scale(3, 8.0))
    assert isinstance(event, ScrapWeighed)
    assert (event.weighing_seq, event.mass_kg, event.category) == (8, 12.5, "edge_trim")
    assert (event.destination, event.line, event.batch_id) == ("recycling", "l1", "B1")


def test_skipped_weighings_raise_a_fault_and_an_unreadable_mass_waits() -> None:
    d = detector()
    d.observe(scale(1, 1.0))
    assert d.observe(scale(2, 2.0, mass=None)) == []
    kinds = [type(e) for e in d.observe(scale(3, 4.0))]
    assert kinds == [ScrapWeighed, DeviceFault]


def test_counter_drops_are_classified_and_the_reading_is_not_altered() -> None:
    d = detector()
    d.observe([Seen("m1", 1, {"energy_import_kwh": 500.0})])
    [event] = d.observe([Seen("m1", 2, {"energy_import_kwh": 0.0})])
    assert isinstance(event, CounterDiscontinuity)
    assert event.classification == "reset"
    assert (event.before, event.after) == (500.0, 0.0)
    assert d.observe([Seen("m1", 3, {"energy_import_kwh": 400.0})]) == []
    [event] = d.observe([Seen("m1", 4, {"energy_import_kwh": 300.0})])
    assert isinstance(event, CounterDiscontinuity)
    assert event.classification == "unexplained"


def test_rollover_near_the_register_width() -> None:
    assert classify_drop(65_000.0, 10.0, 65_536.0) == "rollover"
    assert classify_drop(30_000.0, 20_000.0, 65_536.0) == "unexplained"
    assert classify_drop(30_000.0, 10.0, 65_536.0) == "reset"
    assert classify_drop(30_000.0, 0.0, None) == "reset"
