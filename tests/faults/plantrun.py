"""Fault scenarios on a whole simulated plant, on top of the e2e harness (tests/harness).

Adds what the harness has no need for: a wire tap, killing and restarting the agent,
re-pointing the agent at a proxy, and the figures (reading classes, seq gaps, batch energy).
"""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import yaml

from tests.faults.checker import Verdict, check
from tests.faults.store import dead_letters, stored_readings, stored_seqs
from tests.faults.tap import WireTap
from tests.harness import TOLERANCE, Options, PlantRun, compare, plant_run
from tests.harness.configs import GATEWAY_ID
from tests.harness.world import python_module
from tests.servers import ManagedProcess, wait_until

STEADY_PLANT = Path(__file__).resolve().parent / "plants" / "steady.yaml"
POLL_INTERVAL_S = 0.1


def agent_process(run: PlantRun) -> ManagedProcess:
    return next(c for c in reversed(run.children) if c.log_path.name == "agent.log")


def restart_agent(run: PlantRun, sig: int = signal.SIGKILL) -> None:
    """Stop the agent with `sig` (SIGKILL: a crash or power loss) and start it again."""
    old = agent_process(run)
    old.kill(sig)
    run.children.remove(old)  # else the harness reads its exit as the run failing
    run.start_child("agent", python_module("agent", "run", "--config", str(run.gateway_file)))


def repoint_agent_mqtt(run: PlantRun, host: str, port: int) -> None:
    """Rewrite the gateway file's broker address and restart the agent on it."""
    config: dict[str, Any] = yaml.safe_load(run.gateway_file.read_text())
    config["mqtt"] |= {"host": host, "port": port, "keepalive": 5}
    run.gateway_file.write_text(yaml.safe_dump(config))
    restart_agent(run, signal.SIGTERM)


@contextmanager
def tapped_run(workdir: Path, plant: Path = STEADY_PLANT) -> Iterator[tuple[PlantRun, WireTap]]:
    options = Options(plant_file=plant, workdir=workdir, poll_interval_s=POLL_INTERVAL_S)
    with plant_run(options) as run:
        tap = WireTap(run.mosquitto.host, run.mosquitto.port).start()
        try:
            wait_until(lambda: tap.subscribed, 15, "the wire tap to subscribe")
            yield run, tap
        finally:
            tap.close()


def seq_gaps(seqs: set[tuple[str, int]]) -> list[tuple[str, int]]:
    """Seqs below a gateway's highest stored one that InfluxDB does not hold."""
    gaps = []
    for gateway in {g for g, _ in seqs}:
        have = {s for g, s in seqs if g == gateway}
        gaps += [(gateway, s) for s in range(1, max(have) + 1) if s not in have]
    return gaps


def plant_figures(run: PlantRun, tap: WireTap, verdict: Verdict, **extra: object) -> dict[str, object]:
    seqs = stored_seqs(run.influxdb.url, run.influxdb.database, topic=None)
    report = run.report()
    rows = compare(report, run.ledger())
    errors = [abs(r.error) if r.error is not None else 1.0 for r in rows]
    devices = len(run.plant.devices)
    return {
        "load (device reads/s)": round(devices / POLL_INTERVAL_S),
        **verdict.figures(),
        "seq gaps": len(seq_gaps(seqs)),
        "dead letters": len(dead_letters(run.influxdb.url, run.influxdb.database)),
        "batches (ledger)": len(rows),
        "batches within tolerance": sum(r.within_tolerance for r in rows),
        "worst batch energy error": f"{max(errors, default=0.0):.3%} (tolerance {TOLERANCE:.1%})",
        "batch energy (attributed / ledger kWh)": "; ".join(
            f"{r.batch_id} {r.attributed_kwh if r.attributed_kwh is None else round(r.attributed_kwh, 2)}"
            f" / {r.truth_kwh:.2f}" for r in rows),
        "completeness (report)": ", ".join(f"{r.completeness}" for r in rows),
        "alarms (report)": sum(len(b.get("alarms", [])) for b in report),
        **({"loss evidence": lost_message_evidence(run, verdict)[:1500]} if verdict.lost else {}),
        **extra,
    }


def outbox_pending(run: PlantRun) -> set[tuple[str, int]]:
    """(gateway, seq) of what the agent's outbox still holds unacknowledged."""
    path = run.workdir / "outbox.sqlite"
    if not path.exists():
        return set()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return {(GATEWAY_ID, int(seq)) for (seq,) in db.execute("SELECT seq FROM message")}
    finally:
        db.close()


IN_FLIGHT_S = 10.0
"""Ample for the collector to write what it already received (its batches are 0.2 s old at most)."""


def quiesce(run: PlantRun, tap: WireTap, timeout: float = 30) -> None:
    """Stop the agent and wait until every message the tap saw is stored or still in the outbox.

    Judging a running plant would count messages in flight (seen on the wire, not yet written)
    as lost and points written after the tap's snapshot as unexpected.
    """
    agent_process(run).kill(signal.SIGTERM)
    url, db = run.influxdb.url, run.influxdb.database

    def seen() -> set[tuple[str, int]]:
        return {(m.gateway, m.seq) for m in tap.messages()}

    # What the tap saw went through the broker, so the collector is about to store it: the
    # last cycles before the stop are still in its batch. Wait for them first; a message
    # still missing after that is judged as it stands (pending, or lost).
    with suppress(TimeoutError):
        wait_until(lambda: seen() <= stored_seqs(url, db), IN_FLIGHT_S, "what was seen to be stored",
                   every=0.2)
    wait_until(lambda: seen() <= stored_seqs(url, db) | outbox_pending(run), timeout,
               "every message seen on the wire to be stored or pending", every=0.2)


def verdict_of_run(run: PlantRun, tap: WireTap) -> Verdict:
    quiesce(run, tap)
    url, db = run.influxdb.url, run.influxdb.database
    return check(tap.messages(), stored_readings(url, db), stored_seqs(url, db), outbox_pending(run),
                 observed_since_ms=tap.subscribed_ms)


def lost_message_evidence(run: PlantRun, verdict: Verdict) -> str:
    """What InfluxDB holds for the seqs of the first lost readings: for the failure message."""
    out = []
    for _, seq in sorted(verdict.lost_seqs)[:2]:
        rows = run.influxdb.query(f'SELECT * FROM "message" WHERE "seq" = {seq}')
        out.append(f"message points for seq {seq}: {rows}")
    for example in verdict.examples.get("lost", [])[:1]:
        device, ts = example.split("'")[3], int(example.split(", ")[3].rstrip(")"))
        window = f"\"device\" = '{device}' AND time >= {ts - 300}ms AND time <= {ts + 300}ms"
        for measurement in ("reading", "read_error"):
            rows = run.influxdb.query(f'SELECT * FROM "{measurement}" WHERE {window}')
            found = [{c: v for c, v in zip(s["columns"], r, strict=True) if v is not None}  # type: ignore[call-overload]
                     for s in rows for r in s["values"] if r[0] == ts]  # type: ignore[attr-defined]
            out.append(f"{measurement} of {device} within 300 ms of {ts}: {found}")
    out.append(f"dead letters: {dead_letters(run.influxdb.url, run.influxdb.database)[:3]}")
    log = run.workdir / "collector.log"
    if log.exists():
        out += [line for line in log.read_text(errors="replace").splitlines()
                if "WARNING" in line or "ERROR" in line][:5]
    return "\n".join(out)
