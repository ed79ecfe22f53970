"""The checker tells stored-once from lost, duplicated, corrupted and unexpected."""

from __future__ import annotations

import pytest

from config.wire import Reading, ReadingsMessage
from tests.faults.checker import BatchError, StoredPoint, check, compare_batches, worst_relative_error

pytestmark = pytest.mark.faults


def _msg(seq: int, *readings: tuple[str, int, float]) -> ReadingsMessage:
    return ReadingsMessage(
        site="s", gateway="gw", seq=seq,
        readings=[Reading(device=d, ts_ms=ts, values={"energy_kwh": v, "power_kw": v / 10})
                  for d, ts, v in readings],
    )


def _point(device: str, ts: int, value: float) -> StoredPoint:
    return StoredPoint("gw", device, ts, {"energy_kwh": value, "power_kw": value / 10})


def test_everything_stored_once_is_clean() -> None:
    verdict = check([_msg(1, ("m1", 1000, 1.0), ("m2", 1000, 2.0))],
                    [_point("m1", 1000, 1.0), _point("m2", 1000, 2.0)], {("gw", 1)})
    assert verdict.clean
    assert (verdict.sent, verdict.stored_once) == (4, 4)


def test_a_replayed_message_is_still_stored_once() -> None:
    message = _msg(1, ("m1", 1000, 1.0))
    verdict = check([message, message], [_point("m1", 1000, 1.0)], {("gw", 1)})
    assert verdict.clean
    assert verdict.stored_once == 2


def test_missing_reading_is_lost_unless_its_message_is_pending() -> None:
    messages = [_msg(1, ("m1", 1000, 1.0)), _msg(2, ("m1", 2000, 2.0))]
    lost = check(messages, [_point("m1", 1000, 1.0)], {("gw", 1)})
    assert (lost.lost, lost.messages_lost, lost.clean) == (2, 1, False)
    pending = check(messages, [_point("m1", 1000, 1.0)], {("gw", 1)}, pending_seqs={("gw", 2)})
    assert (pending.lost, pending.pending, pending.messages_lost) == (0, 2, 0)


def test_a_restamped_copy_of_a_read_is_duplicated() -> None:
    verdict = check([_msg(1, ("m1", 1000, 1.0))],
                    [_point("m1", 1000, 1.0), _point("m1", 1999, 1.0)], {("gw", 1)})
    assert verdict.duplicated == 2
    assert not verdict.clean


def test_a_point_nobody_sent_is_unexpected() -> None:
    verdict = check([_msg(1, ("m1", 1000, 1.0))],
                    [_point("m1", 1000, 1.0), _point("m9", 5, 7.0)], {("gw", 1)})
    assert (verdict.unexpected, verdict.duplicated) == (2, 0)


def test_a_stored_value_that_differs_is_corrupted() -> None:
    verdict = check([_msg(1, ("m1", 1000, 1.0))], [_point("m1", 1000, 1.5)], {("gw", 1)})
    assert verdict.corrupted == 2
    assert not verdict.clean


def test_one_seq_with_two_contents_is_a_conflict() -> None:
    verdict = check([_msg(1, ("m1", 1000, 1.0)), _msg(1, ("m1", 2000, 2.0))],
                    [_point("m1", 1000, 1.0), _point("m1", 2000, 2.0)], {("gw", 1)})
    assert verdict.seq_conflicts == 1
    assert not verdict.clean


def test_batch_energy_error_against_the_ledger() -> None:
    errors = compare_batches(
        [{"batch_id": "B1", "energy_kwh": 10.0}, {"batch_id": "B2", "energy_kwh": 4.0}],
        [{"batch_id": "B1", "energy_kwh": 10.1}],
    )
    assert errors[0] == BatchError("B1", 10.0, 10.1)
    assert errors[0].relative == pytest.approx(0.01)
    assert errors[1].report_kwh is None
    assert worst_relative_error(errors) == 1.0


def test_a_copy_of_a_read_whose_values_repeat_is_not_called_duplicated() -> None:
    verdict = check([_msg(1, ("m1", 1000, 1.0), ("m1", 2000, 1.0))],
                    [_point("m1", 1000, 1.0), _point("m1", 2000, 1.0), _point("m1", 3000, 1.0)], {("gw", 1)})
    assert (verdict.duplicated, verdict.unexpected) == (0, 2)


def test_points_before_the_record_began_are_not_judged() -> None:
    verdict = check([_msg(2, ("m1", 5000, 1.0))], [_point("m1", 100, 9.0), _point("m1", 5000, 1.0)],
                    {("gw", 1), ("gw", 2)}, observed_since_ms=1000)
    assert (verdict.unexpected, verdict.before_record, verdict.clean) == (0, 2, True)
