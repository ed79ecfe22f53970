"""Start and stop real Mosquitto and InfluxDB servers on free loopback ports, for tests.

Each server gets its own config and data directory under the caller's temp dir, is
waited for until it answers, and is stopped (SIGTERM, then SIGKILL) afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

INSTALL_HINT = (
    "{binary} not found: install it with `sudo apt-get install -y {package}` "
    "(scripts/test does this on Debian-family machines)"
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], object], timeout: float, what: str, every: float = 0.02) -> None:
    """Poll `predicate` until it returns truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception as exc:  # the condition may not be checkable yet
            last_error = exc
        time.sleep(every)  # polling interval of a condition wait, not synchronisation
    detail = f" (last error: {last_error!r})" if last_error else ""
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}{detail}")


def find_binary(names: list[str], package: str) -> str:
    for name in names:
        found = shutil.which(name) or next(
            (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
        )
        if found:
            return found
    raise RuntimeError(INSTALL_HINT.format(binary=names[0], package=package))


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class _Process:
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def kill(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


@dataclass
class Mosquitto:
    """A real Mosquitto broker on a free loopback port, with its own config and log."""

    workdir: Path
    extra_config: str = ""
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        binary = find_binary(["mosquitto"], "mosquitto")
        self.config_path = self.workdir / "mosquitto.conf"
        self.write_config()
        self._process = _Process([binary, "-c", str(self.config_path)], self.workdir / "mosquitto.log")

    def write_config(self) -> None:
        listener = "" if "listener " in self.extra_config else (
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
        )
        self.config_path.write_text(
            f"{listener}"
            "set_tcp_nodelay true\n"
            "persistence false\n"
            "max_queued_messages 100000\n"
            "max_inflight_messages 100\n"
            f"{self.extra_config}\n"
        )

    def start(self) -> Mosquitto:
        self._process.spawn()
        try:
            wait_until(lambda: _port_open(self.port), 15, f"mosquitto on port {self.port}")
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}\n{self._process.log_tail()}") from None
        return self

    def stop(self) -> None:
        self._process.kill()

    def kill(self) -> None:
        self._process.kill(signal.SIGKILL)


@dataclass
class InfluxDB:
    """A real InfluxDB 1.x server on free loopback ports, with its own data directory."""

    workdir: Path
    port: int = field(default_factory=free_port)
    database: str = "batchmeter"

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        binary = find_binary(["influxd"], "influxdb")
        self.config_path = self.workdir / "influxdb.conf"
        bind_port = free_port()
        data = self.workdir
        self.config_path.write_text(
            f'reporting-disabled = true\nbind-address = "127.0.0.1:{bind_port}"\n'
            f'[meta]\n  dir = "{data}/meta"\n'
            f'[data]\n  dir = "{data}/data"\n  wal-dir = "{data}/wal"\n'
            '  query-log-enabled = false\n  wal-fsync-delay = "0s"\n'
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            '  max-body-size = 0\n'
            '[monitor]\n  store-enabled = false\n'
            '[continuous_queries]\n  enabled = false\n'
            '[logging]\n  level = "warn"\n'
        )
        self._process = _Process([binary, "-config", str(self.config_path)], self.workdir / "influxd.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _ping(self) -> bool:
        return httpx.get(f"{self.url}/ping", timeout=1).status_code == 204

    def start(self) -> InfluxDB:
        self._process.spawn()
        try:
            wait_until(self._ping, 30, f"influxd on port {self.port}")
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}\n{self._process.log_tail()}") from None
        self.create_database(self.database)
        return self

    def create_database(self, name: str) -> None:
        response = httpx.post(f"{self.url}/query", data={"q": f'CREATE DATABASE "{name}"'}, timeout=10)
        response.raise_for_status()

    def query(self, influxql: str, database: str | None = None) -> list[dict[str, object]]:
        """Run InfluxQL; return the series of the first statement (empty list if none)."""
        response = httpx.get(
            f"{self.url}/query",
            params={"db": database or self.database, "q": influxql, "epoch": "ms"},
            timeout=30,
        )
        response.raise_for_status()
        result = response.json()["results"][0]
        if "error" in result:
            raise RuntimeError(f"InfluxQL error: {result['error']}")
        series: list[dict[str, object]] = result.get("series", [])
        return series

    def count(self, measurement: str, field_name: str, where: str = "") -> int:
        clause = f" WHERE {where}" if where else ""
        series = self.query(f'SELECT COUNT("{field_name}") FROM "{measurement}"{clause}')
        if not series:
            return 0
        values = series[0]["values"]
        assert isinstance(values, list)
        return int(values[0][1])

    def stop(self) -> None:
        self._process.kill()

    def kill(self) -> None:
        self._process.kill(signal.SIGKILL)
