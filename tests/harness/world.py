"""Start a whole simulated plant end to end: simulator, Mosquitto, InfluxDB, agent, collector.

`plant_run(options)` is a context manager: on exit (normal, error or Ctrl-C) every process it
started is stopped, newest first. Waits are conditions with deadlines, never sleeps.
"""

from __future__ import annotations

import json
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from config.cloud import load_cloud_config
from config.gateway import load_gateway
from config.plant import load_plant as load_plant_model
from config.simplant import WINDOW_FAULTS, SimPlant, load_plant
from simulators.plant import Plant
from tests.harness import configs
from tests.harness.progress import ProgressWatch
from tests.harness.simulator import Simulator
from tests.servers import InfluxDB, ManagedProcess, Mosquitto, free_port, free_port_range, wait_until

Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Options:
    plant_file: Path
    workdir: Path
    speed: float | None = None
    poll_interval_s: float = 0.1
    progress: Progress = _stderr


def python_module(module: str, *args: str) -> list[str]:
    """Run a part as `python -m`, with the interpreter running the harness (the project's venv)."""
    return [sys.executable, "-m", module, *args]


def schedule_sim_s(plant: SimPlant) -> float:
    """Simulated seconds until the simulator writes its ledger (last batch end or last ticket)."""
    return float(Plant(plant).horizon_s)


@dataclass
class PlantRun:
    options: Options
    plant: SimPlant
    speed: float
    mosquitto: Mosquitto
    influxdb: InfluxDB
    simulator: Simulator
    services: configs.Services
    children: list[ManagedProcess] = field(default_factory=list)

    @property
    def workdir(self) -> Path:
        return self.options.workdir

    @property
    def cloud_file(self) -> Path:
        return self.workdir / "cloud.yaml"

    @property
    def gateway_file(self) -> Path:
        return self.workdir / "gateway.yaml"

    @property
    def batch_ids(self) -> list[str]:
        return [b.batch_id for batches in self.plant.schedule.values() for b in batches]

    def start_child(self, name: str, argv: list[str]) -> ManagedProcess:
        child = ManagedProcess(argv, self.workdir / f"{name}.log").spawn()
        self.children.append(child)
        return child

    def stop_children(self) -> None:
        """Newest first: the agent before the collector, so nothing is left half-sent."""
        for child in reversed(self.children):
            child.kill()

    def problem(self) -> str | None:
        """A process that should be running has ended: the wait can stop."""
        for process in [self.simulator.process, *self.children]:
            ended = process.exited()
            if ended and not (process is self.simulator.process and self.ledger_ready()):
                return ended
        return None

    # --- what the run has produced so far ---------------------------------------------------
    def ledger(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = json.loads(self.simulator.ledger_path.read_text())
        return data

    def ledger_ready(self) -> bool:
        try:
            return len(self.ledger()) >= len(self.batch_ids)
        except (OSError, ValueError):
            return False

    def stored_batch_ends(self) -> set[str]:
        series = self.influxdb.query(
            "SELECT \"batch_id\" FROM \"event\" WHERE \"kind\" = 'batch_ended'"
        )
        values = series[0]["values"] if series else []
        assert isinstance(values, list)
        return {str(row[1]) for row in values}

    def outbox_waiting(self, created_before_ms: int | None = None) -> int:
        """Messages the agent has not had acknowledged (created before the cut-off, if given)."""
        path = self.workdir / "outbox.sqlite"
        if not path.exists():
            return 0
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            where, args = ("WHERE created_ms <= ?", (created_before_ms,)) if created_before_ms else ("", ())
            row = db.execute(f"SELECT COUNT(*) FROM message {where}", args).fetchone()
            return int(row[0])
        finally:
            db.close()

    def readings_stored(self) -> int:
        series = self.influxdb.query('SELECT COUNT(*) FROM "message" WHERE "topic" = \'readings\'')
        if not series:
            return 0
        values = series[0]["values"]
        assert isinstance(values, list)
        return int(max(v for v in values[0][1:] if isinstance(v, int | float)))

    # --- the end of the run -----------------------------------------------------------------
    def wait(self, predicate: Callable[[], object], timeout: float, what: str, every: float = 0.5) -> None:
        """wait_until, ended early by a dead process; a timeout carries every process's log tail."""
        try:
            wait_until(predicate, timeout, what, every=every, fail_if=self.problem)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.logs_tail()}") from None

    def wait_done(self, timeout_s: float | None = None) -> None:
        """Until the schedule is over, every batch end is stored and the outbox is drained."""
        budget = timeout_s or schedule_sim_s(self.plant) / self.speed + 120
        deadline = time.monotonic() + budget
        watch = ProgressWatch(self)
        self.wait(lambda: watch.tick() and self.ledger_ready(), budget, "the simulated schedule to end")
        self.wait(lambda: watch.tick() and set(self.batch_ids) <= self.stored_batch_ends(),
                  max(deadline - time.monotonic(), 30), "every batch_ended event in InfluxDB")
        cutoff = int(time.time() * 1000)
        self.wait(lambda: watch.tick() and self.outbox_waiting(cutoff) == 0, 60,
                  "the agent's outbox to drain")
        self.options.progress(f"all {len(self.batch_ids)} batches stored; outbox drained")

    def logs_tail(self, chars: int = 1500) -> str:
        """The end of every process's log: what a timed-out wait needs to be understood."""
        processes = [self.simulator.process, *self.children]
        return "\n".join(f"--- {p.log_path.name}:\n{p.log_tail(chars)}" for p in processes)

    def report(self) -> list[dict[str, Any]]:
        out = self.workdir / "report.json"
        argv = python_module("cloud", "report", "--config", str(self.cloud_file), "--format", "json",
                             "--out", str(out))
        log = self.workdir / "report.log"
        with log.open("ab") as sink:
            done = _run(argv, sink, timeout=300)
        if done != 0:
            raise RuntimeError(f"batchmeter-cloud report exited with {done}:\n{log.read_text()[-3000:]}")
        data: list[dict[str, Any]] = json.loads(out.read_text())
        return data

    def serve(self) -> str:
        """Start the dashboard/API; return its URL (with a login token) once it answers."""
        server = self.start_child("serve", python_module("cloud", "serve", "--config", str(self.cloud_file)))
        port = self.services.api_port
        wait_until(lambda: _port_open(port), 30, f"the dashboard on port {port}", fail_if=server.exited)
        # `?token=` once sets the dashboard's session cookie: the printed link just works.
        return f"http://127.0.0.1:{port}/?token={self.services.api_token}"


def _run(argv: list[str], sink: BinaryIO, timeout: float) -> int:
    return subprocess.run(argv, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                          timeout=timeout, check=False).returncode


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _write_configs(run_dir: Path, plant: SimPlant, addresses: Mapping[str, configs.DeviceAddress],
                   svc: configs.Services) -> None:
    configs.write_yaml(run_dir / "gateway.yaml", configs.gateway_config(plant, addresses, svc))
    configs.write_yaml(run_dir / "plant.yaml", configs.plant_model(plant, svc.poll_interval_s))
    configs.write_yaml(run_dir / "cloud.yaml", configs.cloud_config(svc))
    # Read back through the parts' own loaders: a drift fails here, naming file, key and line.
    load_gateway(run_dir / "gateway.yaml")
    load_plant_model(run_dir / "plant.yaml")
    load_cloud_config(run_dir / "cloud.yaml")


def _agent_publishing(influx: InfluxDB) -> bool:
    """Anything from the gateway stored: agent, broker, collector and InfluxDB are all up.

    Before the simulator serves, every poll fails, so `read_error` points are the first sign.
    """
    series = influx.query('SELECT COUNT(*) FROM "read_error", "reading"')
    return bool(series)


def _devices_read(influx: InfluxDB) -> set[str]:
    """Devices with at least one good reading stored (before the simulator serves, none can)."""
    series = influx.query('SELECT COUNT(*) FROM "reading" GROUP BY "device"')
    return {str(tags.get("device")) for s in series if isinstance(tags := s.get("tags"), dict)}


def _expected_readable(plant: SimPlant, speed: float, within_real_s: float = 10.0) -> set[str]:
    """Devices that should answer right after start: not those in a fault window by then."""
    soon = within_real_s * speed
    faulted = {f.device for f in plant.faults if f.kind in WINDOW_FAULTS and f.at_s <= soon}
    return {d.id for d in plant.devices} - faulted


def _start_servers(stack: ExitStack, workdir: Path) -> tuple[Mosquitto, InfluxDB]:
    broker = Mosquitto(workdir / "mosquitto")
    stack.callback(broker.stop)
    broker.start()
    influx = InfluxDB(workdir / "influxdb")
    stack.callback(influx.stop)
    influx.start()
    return broker, influx


@contextmanager
def plant_run(options: Options) -> Iterator[PlantRun]:
    """Everything up and polling; stopped again on exit, whatever the reason.

    The simulated clock starts when the simulator does, so it starts last: the collector and
    the agent are already running (and the agent already publishing its failed polls) by then,
    and the plant's first batch cannot begin before anyone is watching.
    """
    plant = load_plant(options.plant_file)
    speed = options.speed or plant.speed
    workdir = options.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    say = options.progress
    with ExitStack() as stack:
        say("starting Mosquitto and InfluxDB")
        broker, influx = _start_servers(stack, workdir)
        port_base = free_port_range(max(configs.tcp_ports_needed(plant), 1))
        planned = configs.planned_addresses(plant, port_base, options.plant_file.resolve().parent)
        svc = configs.Services(
            mqtt_host=broker.host, mqtt_port=broker.port, influx_url=influx.url,
            influx_database=influx.database, workdir=workdir, api_port=free_port(),
            metrics_port=free_port(), poll_interval_s=options.poll_interval_s,
            api_token=secrets.token_urlsafe(12),
        )
        _write_configs(workdir, plant, planned, svc)
        sim = Simulator(options.plant_file, workdir, speed if options.speed else None, port_base)
        run = PlantRun(options, plant, speed, broker, influx, sim, svc)
        stack.callback(sim.stop)
        stack.callback(run.stop_children)
        say("starting the collector and the agent")
        run.start_child("collector", python_module("cloud", "run", "--config", str(run.cloud_file)))
        run.start_child("agent", python_module("agent", "run", "--config", str(run.gateway_file)))
        run.wait(lambda: _agent_publishing(influx), 60, "the agent's first messages in InfluxDB", every=0.1)
        say(f"starting the simulator: {options.plant_file.name} at speed {speed:g}")
        sim.start()
        if sim.addresses != planned:
            raise RuntimeError(f"the simulator serves {sim.addresses}, not the planned {planned}")
        # The agent backs off from the devices that failed before READY; hand the run over
        # only once it reads them again, so the failures before the start stay before it.
        readable = _expected_readable(plant, speed)
        run.wait(lambda: readable <= _devices_read(influx), 30,
                 f"a good reading from each of {sorted(readable)}", every=0.1)
        yield run
