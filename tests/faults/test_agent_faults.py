"""Agent crashes and broken agent-broker connections, on a whole simulated plant.

Load: 13 devices polled every 0.1 s (130 device reads/s, several quantities each). The
ledger's batches are compared with the report, so a lost or doubled reading that moved a
batch's energy shows twice: in the reading classes and in the batch error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.conftest import Record
from tests.faults.plantrun import (
    lost_message_evidence,
    plant_figures,
    repoint_agent_mqtt,
    restart_agent,
    seq_gaps,
    tapped_run,
    verdict_of_run,
)
from tests.faults.proxy import Mode, TcpProxy
from tests.faults.store import stored_seqs
from tests.harness import PlantRun
from tests.servers import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(400)]


def _messages_stored(run: PlantRun) -> int:
    return len(stored_seqs(run.influxdb.url, run.influxdb.database))


def _more_stored(run: PlantRun, extra: int, timeout: float = 30) -> None:
    target = _messages_stored(run) + extra
    wait_until(lambda: _messages_stored(run) >= target, timeout, f"{extra} more messages stored",
               every=0.2, fail_if=run.problem)


def _assert_clean(run: PlantRun, figures: dict[str, object], summary: str) -> None:
    assert figures["lost"] == 0, summary
    assert figures["pending"] == 0, summary
    assert figures["duplicated"] == 0, summary
    assert figures["seq gaps"] == 0, summary
    assert figures["batches within tolerance"] == figures["batches (ledger)"], figures


def test_plant_baseline_no_fault(tmp_path: Path, figures: Record) -> None:
    with tapped_run(tmp_path) as (run, tap):
        run.wait_done()
        verdict = verdict_of_run(run, tap)
        values = plant_figures(run, tap, verdict)
    figures("plant baseline: no fault", values)
    _assert_clean(run, values, verdict.summary())


def _batches_started(run: PlantRun) -> int:
    series = run.influxdb.query("SELECT \"batch_id\" FROM \"event\" WHERE \"kind\" = 'batch_started'")
    values = series[0]["values"] if series else []
    assert isinstance(values, list)
    return len(values)


@pytest.mark.parametrize("kills", [3])
def test_agent_killed_with_sigkill_repeatedly(tmp_path: Path, figures: Record, kills: int) -> None:
    with tapped_run(tmp_path) as (run, tap):
        # Kills land inside the batches' run phase: a boundary that passes while no agent runs is
        # read late by the downtime (x speed 40 here), which is a gap in the data, not a loss.
        wait_until(lambda: _batches_started(run) >= len(run.plant.lines), 60, "every line's batch to start",
                   every=0.2, fail_if=run.problem)
        _more_stored(run, 20)
        for _ in range(kills):
            restart_agent(run)
            _more_stored(run, 20)
        run.wait_done()
        verdict = verdict_of_run(run, tap)
        values = plant_figures(run, tap, verdict, **{"SIGKILLs": kills})
    figures("agent killed with SIGKILL repeatedly", values)
    _assert_clean(run, values, verdict.summary())


RECONNECT_S = 20.0
"""Ample for the agent's first reconnect attempts (backoff from 0.5 s) after a short outage."""


@pytest.mark.parametrize("outage_messages", [20])
def test_broker_stopped_and_restarted_under_the_agent(tmp_path: Path, figures: Record,
                                                      outage_messages: int) -> None:
    with tapped_run(tmp_path) as (run, tap):
        _more_stored(run, 20)
        run.mosquitto.stop()
        waiting = run.outbox_waiting()
        wait_until(lambda: run.outbox_waiting() >= waiting + outage_messages, 30,
                   "the agent to keep polling into its outbox while the broker is down", fail_if=run.problem)
        run.mosquitto.start()
        try:
            _more_stored(run, 20, timeout=RECONNECT_S)
            run.wait_done(timeout_s=60)
        finally:
            verdict = verdict_of_run(run, tap)
            evidence = lost_message_evidence(run, verdict) if verdict.lost else ""
            in_tap = [m for m in tap.messages() if (m.gateway, m.seq) in verdict.lost_seqs]
            values = plant_figures(run, tap, verdict, **{"broker outages": 1})
            figures("broker stopped and restarted under the real agent", values)
    _assert_clean(run, values, f"{verdict.summary()}\n{evidence}\n{[str(m)[:3000] for m in in_tap[:1]]}")


@pytest.mark.parametrize("stall_s_messages", [25])
def test_agent_broker_connection_stalled_then_cut(tmp_path: Path, figures: Record,
                                                  stall_s_messages: int) -> None:
    with tapped_run(tmp_path) as (run, tap), TcpProxy(run.mosquitto.host, run.mosquitto.port) as proxy:
        repoint_agent_mqtt(run, proxy.host, proxy.port)
        wait_until(lambda: proxy.open_connections >= 1, 30, "the agent to connect through the proxy",
                   fail_if=run.problem)
        _more_stored(run, 20)
        # A silent partition: nothing arrives, nothing closes; then the route dies without a RST.
        proxy.set_mode(Mode.STALL)
        outbox_before = run.outbox_waiting()
        wait_until(lambda: run.outbox_waiting() >= outbox_before + stall_s_messages, 60,
                   "the agent to keep polling into its outbox during the stall", fail_if=run.problem)
        cut_fin = proxy.cut(reset=False)
        proxy.set_mode(Mode.PASS)
        _more_stored(run, 20, timeout=RECONNECT_S)
        cut_rst = proxy.cut(reset=True)
        _more_stored(run, 20, timeout=RECONNECT_S)
        run.wait_done()
        verdict = verdict_of_run(run, tap)
        evidence = lost_message_evidence(run, verdict) if verdict.lost else ""
        values = plant_figures(run, tap, verdict, **{
            "connections cut (FIN)": cut_fin, "connections cut (RST)": cut_rst,
            "proxy connections accepted": proxy.stats.accepted})
    figures("agent-broker connection stalled, then cut without and with a reset", values)
    _assert_clean(run, values, verdict.summary() + "\n" + evidence)


def test_seq_gaps_are_found() -> None:
    assert sorted(seq_gaps({("g", 1), ("g", 3), ("h", 2)})) == [("g", 2), ("h", 1)]
