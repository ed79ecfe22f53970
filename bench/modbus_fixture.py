"""The benchmark's Modbus devices (bench.modbus_server) as a context manager."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.proc import child, python_argv


@contextmanager
def devices(count: int, workdir: Path, profile: str = "sdm630") -> Iterator[list[int]]:
    """Serve `count` devices, one TCP port each; yield the ports."""
    argv = python_argv("bench.modbus_server", "--devices", str(count), "--profile", profile)
    with child(argv, workdir / "modbus_server.log", ready="READY", timeout=120) as server:
        yield [int(port) for port in server.ready.split()[1:]]
