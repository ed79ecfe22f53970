"""The demo (`python -m tests.harness`, what scripts/demo runs) leaves nothing running after
Ctrl-C or SIGTERM: every server, simulator, agent and collector it started is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import wait_until

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # ended meanwhile
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_the_demo_stops_everything_it_started(tmp_path: Path, sig: signal.Signals) -> None:
    workdir = tmp_path / "demo"
    log = (tmp_path / "demo.log").open("wb")
    demo = subprocess.Popen(
        [sys.executable, "-m", "tests.harness", "--workdir", str(workdir)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    try:
        # Every kind of child is up once the simulator has announced its devices.
        wait_until(lambda: "READY" in (workdir / "simulator.log").read_text(), 90,
                   "the demo to start the simulator", every=0.2,
                   fail_if=lambda: None if demo.poll() is None else f"demo exited {demo.returncode}")
        started = _processes_mentioning(str(workdir))
        assert len(started) >= 5, started  # mosquitto, influxd, collector, agent, simulator
        demo.send_signal(sig)
        assert demo.wait(60) != 0
        wait_until(lambda: not _processes_mentioning(str(workdir)), 30, "every demo process to end")
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)
        log.close()
