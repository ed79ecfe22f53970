"""Start and stop real Mosquitto and InfluxDB servers on free loopback ports, for tests.

Each server gets its own config and data directory under the caller's temp dir, is
waited for until it answers, and is stopped (SIGTERM, then SIGKILL) afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import random
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


def free_port_range(count: int, low: int = 20000, high: int = 32000) -> int:
    """The first of `count` consecutive free loopback ports, below Linux's ephemeral range
    (so a port the kernel hands out for an outgoing connection does not take one meanwhile)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(low, high - count)
        if all(_bindable(port) for port in range(base, base + count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports between {low} and {high}")


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_until(
    predicate: Callable[[], object],
    timeout: float,
    what: str,
    every: float = 0.02,
    fail_if: Callable[[], str | None] | None = None,
) -> None:
    """Poll `predicate` until it returns truthy; fail naming `what` after `timeout` seconds.

    `fail_if` is checked on every round; a message from it ends the wait at once (a process
    that died will not make the condition come true, so waiting out the deadline is pointless).
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception as exc:  # the condition may not be checkable yet
            last_error = exc
        problem = fail_if() if fail_if is not None else None
        if problem:
            raise RuntimeError(f"while waiting for {what}: {problem}")
        time.sleep(every)  # polling interval of a condition wait, not synchronisation
    detail = f" (last error: {last_error!r})" if last_error else ""
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}{detail}")


async def wait_until_async(predicate: Callable[[], object], limit_s: float, what: str,
                           every: float = 0.02) -> None:
    """`wait_until` on an event loop: polls without blocking the loop that makes it come true."""
    try:
        async with asyncio.timeout(limit_s):
            while not predicate():  # noqa: ASYNC110 - state kept by callbacks, threads and processes
                await asyncio.sleep(every)  # polling interval of a condition wait, not synchronisation
    except TimeoutError:
        raise TimeoutError(f"timed out after {limit_s}s waiting for {what}") from None


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


_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the context managers stop them
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    return None


# Looked up once here: between fork and exec the child must not dlopen (another thread may
# hold the loader's lock at fork time).
_PRCTL = _load_prctl()


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the parent dies, even by SIGKILL (Linux).

    Without it a killed test run or demo would leave brokers and simulators holding ports.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class ManagedProcess:
    """A child process whose output goes to a log file, stopped with SIGTERM then SIGKILL."""

    argv: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] | None = None
    cwd: Path | None = None

    def spawn(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, cwd=self.cwd, preexec_fn=_die_with_parent,
            )
        return self

    @property
    def name(self) -> str:
        return Path(self.argv[0]).name

    def exited(self) -> str | None:
        """None while running (or never started); else how it ended, with its log's tail."""
        if self.proc is None or self.proc.poll() is None:
            return None
        return f"{' '.join(self.argv[:3])} exited with {self.proc.returncode}:\n{self.log_tail()}"

    def kill(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


_Process = ManagedProcess  # the name the first fixtures used


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
        self._process = ManagedProcess([binary, "-c", str(self.config_path)], self.workdir / "mosquitto.log")

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
        self._process = ManagedProcess(
            [binary, "-config", str(self.config_path)], self.workdir / "influxd.log"
        )

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
