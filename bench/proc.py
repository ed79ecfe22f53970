"""Child processes of a benchmark: started, waited for until ready, always stopped."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def python_argv(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # bench/ and tests/ are not installed: children find them from the checkout
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def read_ready(proc: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    """The first stdout line starting with `prefix`; fails if the child dies or stays silent."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before {prefix!r}")
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if line.startswith(prefix):
                return line.strip()
    raise RuntimeError(f"{proc.args!r} did not print {prefix!r} within {timeout}s")


def stop(proc: subprocess.Popen[str], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Child:
    """A running child; `ready` is its ready line, `lines` what it printed after it."""

    def __init__(self, proc: subprocess.Popen[str], ready: str) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.ready = ready
        self.lines: list[str] = []
        # a child that keeps printing must never block on a full pipe
        self._drain = threading.Thread(target=self._read, daemon=True)
        self._drain.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def finish(self, timeout: float = 10.0) -> list[str]:
        """Stop the child (SIGTERM) and return everything it printed after its ready line."""
        stop(self.proc, timeout)
        self._drain.join(5)
        return self.lines


@contextmanager
def child(
    argv: Sequence[str], log: Path, ready: str | None = None, timeout: float = 60.0
) -> Iterator[Child]:
    """Run `argv` (stderr to `log`); with `ready`, first wait for that line on its stdout."""
    with log.open("a") as err:
        proc = subprocess.Popen(
            list(argv), stdout=subprocess.PIPE, stderr=err, text=True, env=_env(), cwd=ROOT
        )
    try:
        line = read_ready(proc, ready, timeout) if ready else ""
        yield Child(proc, line)
    finally:
        stop(proc)
        if proc.stdout is not None:
            proc.stdout.close()


def log_tail(log: Path, chars: int = 1500) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return ""
