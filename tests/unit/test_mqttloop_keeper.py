"""How often mqttloop's keeper lets paho check the keep-alive: pure arithmetic, no clock."""

from __future__ import annotations

import pytest

from mqttloop.connection import keeper_tick_s


@pytest.mark.parametrize("keepalive_s", [5, 30, 60, 3600])
def test_a_ping_is_never_late_past_the_brokers_limit(keepalive_s: int) -> None:
    # paho pings once keepalive_s have passed without traffic; the keeper notices at its next
    # tick, and the broker may drop a client silent for 1.5 x keepalive_s
    assert keepalive_s + keeper_tick_s(keepalive_s) < 1.5 * keepalive_s


def test_a_gateway_polling_at_1_hz_is_not_woken_every_second_by_the_keeper() -> None:
    assert keeper_tick_s(30) >= 5  # the gateway's default keep-alive


def test_short_keepalives_still_tick_at_most_once_a_second() -> None:
    assert keeper_tick_s(2) == 1.0
