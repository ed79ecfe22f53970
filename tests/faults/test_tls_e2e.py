"""TLS and per-gateway credentials between the real agent, the broker and the collector.

The harness brings the plant up on its plain broker; the test then moves agent and collector
to a broker that only speaks TLS, refuses anonymous clients and applies the ACL, and checks
that the whole plant is stored and attributed through it, with no password in any log.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.faults.conftest import Record
from tests.faults.plantrun import (
    STEADY_PLANT,
    lost_message_evidence,
    plant_figures,
    restart_agent,
    verdict_of_run,
)
from tests.faults.secure import SecureBroker, make_tls
from tests.faults.tap import WireTap
from tests.harness import Options, PlantRun, plant_run
from tests.harness.configs import GATEWAY_ID
from tests.harness.world import python_module
from tests.servers import Mosquitto, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(400)]


def _edit(path: Path, mqtt: dict[str, Any]) -> None:
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    config["mqtt"] |= mqtt
    path.write_text(yaml.safe_dump(config))


def _move_to(run: PlantRun, secure: SecureBroker, server: Mosquitto, ca: Path) -> None:
    _edit(run.cloud_file, {"host": server.host, "port": server.port, "tls": {"ca_file": str(ca)},
                           "username": "collector", "password": secure.passwords["collector"]})
    _edit(run.gateway_file, {"host": server.host, "port": server.port, "tls": {"ca_file": str(ca)},
                             "username": GATEWAY_ID, "password": secure.passwords[GATEWAY_ID]})
    collector = next(c for c in run.children if c.log_path.name == "collector.log")
    collector.kill(signal.SIGTERM)
    run.children.remove(collector)
    run.start_child("collector", python_module("cloud", "run", "--config", str(run.cloud_file)))
    restart_agent(run, signal.SIGTERM)


def test_tls_between_agent_broker_and_collector(tmp_path: Path, figures: Record) -> None:
    # A long first idle, so the move to the TLS broker is over before any batch boundary.
    plant = tmp_path / "plant.yaml"
    plant.write_text(STEADY_PLANT.read_text().replace("idle_before_s: 60", "idle_before_s: 400")
                     .replace("idle_before_s: 90", "idle_before_s: 420"))
    tls = make_tls(tmp_path / "pki")
    secure = SecureBroker(tmp_path / "secure", ["collector", GATEWAY_ID], tls=tls)
    server = secure.start()
    try:
        with plant_run(Options(plant_file=plant, workdir=tmp_path / "run", poll_interval_s=0.1)) as run:
            tap = WireTap(server.host, server.port, "collector", secure.passwords["collector"], str(tls.ca))
            tap.start()
            try:
                wait_until(lambda: tap.subscribed, 15, "the wire tap on the TLS broker")
                _move_to(run, secure, server, tls.ca)
                run.wait_done()
                verdict = verdict_of_run(run, tap)
                logs = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*.log"))
                leaked = [u for u, pw in secure.passwords.items() if pw in logs]
                evidence = lost_message_evidence(run, verdict) if verdict.lost else ""
                in_tap = [(m.seq, len(m.readings)) for m in tap.messages()
                          if (m.gateway, m.seq) in verdict.lost_seqs]
                values = plant_figures(run, tap, verdict, **{
                    "messages seen on the TLS broker": len(tap.messages()),
                    "passwords found in logs": len(leaked), "log bytes scanned": len(logs)})
            finally:
                tap.close()
    finally:
        server.stop()
    figures("TLS + credentials + ACL end to end (agent, broker, collector)", values)
    assert len(tap.messages()) > 50
    assert values["lost"] == values["duplicated"] == values["seq gaps"] == 0, (
        f"{verdict.summary()}\n{evidence}\ntap (seq, readings): {in_tap}")
    assert values["batches within tolerance"] == values["batches (ledger)"], values
    assert leaked == []
