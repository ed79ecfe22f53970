"""The simulator as a child process: started, waited for (`READY`), its endpoints read back."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from config.simplant import load_plant
from tests.harness.configs import DeviceAddress, SerialAddress, TcpAddress
from tests.servers import ManagedProcess, wait_until


def parse_endpoints(output: str, baudrates: dict[str, int]) -> dict[str, DeviceAddress] | None:
    """The device addresses from the simulator's `{"endpoints": ...}` line, once READY follows it."""
    lines = output.splitlines()
    if "READY" not in lines:
        return None
    for line in lines[: lines.index("READY")]:
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and "endpoints" in data:
            return {device: _address(entry, baudrates) for device, entry in data["endpoints"].items()}
    raise ValueError("the simulator printed READY without an endpoints line")


def _address(entry: dict[str, Any], baudrates: dict[str, int]) -> DeviceAddress:
    unit = int(entry["unit_id"])
    if "serial" in entry:
        link = str(entry["serial"])
        return SerialAddress(link, unit, baudrates.get(link, 19200))
    return TcpAddress(str(entry["host"]), int(entry["port"]), unit)


class Simulator:
    def __init__(self, plant_file: Path, workdir: Path, speed: float | None = None,
                 port_base: int | None = None) -> None:
        self.plant_file = plant_file.resolve()
        self.ledger_path = workdir / "ledger.json"
        plant = load_plant(self.plant_file)
        # A relative RTU link is made relative to the plant file's folder by the simulator.
        self._baudrates = {
            str(Path(b.link) if Path(b.link).is_absolute() else self.plant_file.parent / b.link): b.baudrate
            for b in plant.rtu_buses
        }
        argv = [sys.executable, "-u", "-m", "simulators", "run", "--plant", str(self.plant_file),
                "--ledger", str(self.ledger_path)]
        if speed is not None:
            argv += ["--speed", f"{speed:g}"]
        if port_base is not None:
            argv += ["--port-base", str(port_base)]
        self.process = ManagedProcess(argv, workdir / "simulator.log")
        self.addresses: dict[str, DeviceAddress] = {}
        self.started_at: float | None = None
        """time.monotonic() when READY was seen: simulated second ~0."""

    def _ready(self) -> bool:
        found = parse_endpoints(self.process.log_tail(1_000_000), self._baudrates)
        if found is not None:
            self.addresses = found
        return found is not None

    def start(self, timeout_s: float = 60) -> Simulator:
        self.process.spawn()
        wait_until(self._ready, timeout_s, "the simulator to print READY", every=0.05,
                   fail_if=self.process.exited)
        self.started_at = time.monotonic()
        return self

    def stop(self) -> None:
        self.process.kill()
