"""Modbus faults on a whole simulated plant: every exception code, a dead device on a shared
RTU bus, late responses (through the fault proxy) and torn multi-register reads.

One run covers all four (they hit different devices), under the steady plant's load plus a
three-meter RTU bus. Each is judged on what InfluxDB and the report hold afterwards.
"""

from __future__ import annotations

import itertools
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.faults.figures import FigureFile
from tests.faults.plantrun import plant_figures, restart_agent, tapped_run, verdict_of_run
from tests.faults.proxy import Mode, TcpProxy
from tests.faults.store import stored_seqs
from tests.harness import TOLERANCE, PlantRun, compare
from tests.servers import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(400)]

TEMPLATE = Path(__file__).resolve().parent / "plants" / "modbus.yaml.tmpl"
CODES = {1, 2, 3, 4, 5, 6, 7, 8, 10, 11}
LATE = "m-line2-0"
LATE_MAX_KW = 300 * 0.25 * 1.5  # line2 running power x the meter's share x headroom for noise


def _rows(run: PlantRun, influxql: str) -> list[dict[str, Any]]:
    series = run.influxdb.query(influxql)
    out: list[dict[str, Any]] = []
    for s in series:
        columns, values = s["columns"], s["values"]
        assert isinstance(columns, list)
        assert isinstance(values, list)
        out += [dict(zip(columns, row, strict=True)) for row in values]
    return out


def _count(run: PlantRun, measurement: str, device: str) -> int:
    rows = _rows(run, f"SELECT * FROM \"{measurement}\" WHERE \"device\" = '{device}'")
    return len(rows)


def _proxy_device(run: PlantRun, device: str) -> TcpProxy:
    """Put a fault proxy between the agent and one Modbus device; restart the agent on it."""
    config: dict[str, Any] = yaml.safe_load(run.gateway_file.read_text())
    name = next(d["connection"] for d in config["devices"] if d["id"] == device)
    connection = config["connections"][name]
    proxy = TcpProxy(connection["host"], connection["port"]).start()
    connection["port"] = proxy.port
    run.gateway_file.write_text(yaml.safe_dump(config))
    restart_agent(run, signal.SIGTERM)
    return proxy


def _late_response_violations(run: PlantRun) -> list[str]:
    """Values that cannot be this meter's at that time: a response paired with the wrong poll."""
    query = f"SELECT * FROM \"reading\" WHERE \"device\" = '{LATE}'"
    rows = sorted(_rows(run, query), key=lambda r: r["time"])
    energy = next(k for k in rows[0] if "energy" in k and "kwh" in k)
    speed = run.speed
    problems = []
    counted = [r for r in rows if r[energy] is not None]
    for before, after in itertools.pairwise(counted):
        step, dt_s = after[energy] - before[energy], (after["time"] - before["time"]) / 1000
        if step < 0 or step > LATE_MAX_KW * speed * max(dt_s, 0.001) / 3600:
            problems.append(f"{energy} {before[energy]} -> {after[energy]} in {dt_s:.3f} s")
    for row in rows:
        for key, value in row.items():
            if "voltage" in key and value is not None and not 150 <= value <= 300:
                problems.append(f"{key}={value} at {row['time']}")
    return problems


@dataclass(frozen=True)
class Outcome:
    values: dict[str, object]
    summary: str
    codes_seen: set[str]
    live: dict[str, int]
    dead_errors: int
    rtu_max_gap_s: float
    late: list[str]
    line1_error: float | None
    last_energy_ms: dict[str, int]


def _max_gap_s(run: PlantRun, device: str) -> float:
    times = sorted(r["time"] for r in _rows(run, f"SELECT * FROM \"reading\" WHERE \"device\" = '{device}'"))
    return max((b - a for a, b in itertools.pairwise(times)), default=float("inf")) / 1000


def _last_energy_ms(run: PlantRun, device: str) -> int:
    rows = _rows(run, f"SELECT * FROM \"reading\" WHERE \"device\" = '{device}'")
    return max((int(r["time"]) for r in rows if any(v is not None for k, v in r.items() if "energy" in k)),
               default=0)


def _stall_one_device(run: PlantRun) -> int:
    """Stall the proxied device until its reads time out, then let every late answer through."""
    proxy = _proxy_device(run, LATE)
    try:
        wait_until(lambda: proxy.open_connections >= 1, 30, "the agent to poll through the proxy",
                   fail_if=run.problem)
        stored = len(stored_seqs(run.influxdb.url, run.influxdb.database))
        wait_until(lambda: len(stored_seqs(run.influxdb.url, run.influxdb.database)) >= stored + 10,
                   60, "10 more messages stored", every=0.2, fail_if=run.problem)
        errors_before = _count(run, "read_error", LATE)
        proxy.set_mode(Mode.STALL)
        wait_until(lambda: _count(run, "read_error", LATE) >= errors_before + 3, 60,
                   f"{LATE}'s reads to time out", every=0.2, fail_if=run.problem)
        proxy.set_mode(Mode.PASS)  # every late response arrives now, after its request timed out
        run.wait_done()
        return _count(run, "read_error", LATE) - errors_before
    finally:
        proxy.stop()


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory, figure_file: FigureFile) -> Outcome:
    tmp_path = tmp_path_factory.mktemp("modbus")
    plant = tmp_path / "modbus.yaml"
    plant.write_text(TEMPLATE.read_text().replace("{bus_link}", str(tmp_path / "bus1")))
    with tapped_run(tmp_path / "run", plant) as (run, tap):
        stall_errors = _stall_one_device(run)
        verdict = verdict_of_run(run, tap)
        errors = _rows(run, "SELECT * FROM \"read_error\" WHERE \"device\" = 'm-line1-1'")
        codes_seen = {str(r["error"]) for r in errors}
        live = {d: _count(run, "reading", d) for d in ("m-rtu-1", "m-rtu-2", "m-rtu-3", "m-line1-0")}
        dead_errors = _count(run, "read_error", "m-rtu-2")
        gap = max(_max_gap_s(run, "m-rtu-1"), _max_gap_s(run, "m-rtu-3"))
        discontinuities = _rows(run, "SELECT * FROM \"event\" WHERE \"kind\" = 'counter_discontinuity'")
        late = _late_response_violations(run)
        rows = {r.batch_id: r for r in compare(run.report(), run.ledger())}
        last_energy = {d: _last_energy_ms(run, d) for d in ("m-line1-0", "m-line1-1")}
        values = plant_figures(run, tap, verdict, **{
            "exception codes declared": len(CODES),
            "exception codes (not 02) stored as read errors":
                sum(f"exception:{c}" in codes_seen for c in CODES - {2}),
            "m-line1-1 energy stops before its neighbour's (s)":
                (last_energy["m-line1-0"] - last_energy["m-line1-1"]) / 1000,
            "dead RTU device: readings / read errors": f"{live['m-rtu-2']} / {dead_errors}",
            "RTU neighbours' readings vs a TCP meter's":
                f"{live['m-rtu-1']}, {live['m-rtu-3']} vs {live['m-line1-0']}",
            "RTU neighbours' longest gap between readings (s)": round(gap, 2),
            "late-response stall: read errors": stall_errors,
            "values paired with the wrong request": len(late),
            "torn read: counter discontinuities stored": len(discontinuities),
        })
    figure_file.record("Modbus: exception codes, dead RTU device, late responses, torn reads", values,
                       "tests/faults/test_modbus_faults.py::test_no_reading_lost_or_duplicated")
    return Outcome(values, verdict.summary(), codes_seen, live, dead_errors, gap, late,
                   rows["F1-0001"].error, last_energy)


def test_no_reading_lost_or_duplicated(outcome: Outcome) -> None:
    assert outcome.values["lost"] == outcome.values["duplicated"] == 0, outcome.summary
    assert outcome.values["seq gaps"] == 0


def test_every_exception_code_but_02_is_stored_as_a_read_error(outcome: Outcome) -> None:
    # 02 is the agent's cue to re-plan its register blocks, so it is no read error (see below).
    assert {f"exception:{c}" for c in CODES - {2}} <= outcome.codes_seen, outcome.codes_seen


def test_a_meter_is_read_again_after_a_window_of_exception_02(outcome: Outcome) -> None:
    # The neighbour on the same line is read to the end; the meter must not stop long before it.
    lag_s = (outcome.last_energy_ms["m-line1-0"] - outcome.last_energy_ms["m-line1-1"]) / 1000
    assert lag_s <= 1.0, outcome.last_energy_ms


def test_a_dead_device_does_not_starve_its_rtu_bus(outcome: Outcome) -> None:
    assert outcome.live["m-rtu-2"] == 0 < outcome.dead_errors
    # Generous: the dead unit's timeout (1 s, one retry) may cost its neighbours a few polls.
    assert outcome.rtu_max_gap_s <= 5.0, outcome.live


def test_late_responses_never_pair_with_the_wrong_request(outcome: Outcome) -> None:
    assert outcome.late == [], outcome.late[:5]


def test_a_torn_counter_read_never_becomes_energy(outcome: Outcome) -> None:
    assert outcome.line1_error is not None
    assert abs(outcome.line1_error) <= TOLERANCE, outcome.values["batch energy (attributed / ledger kWh)"]
