"""An edge agent under test: gateway config written, `python -m agent run` started, acks flowing.

Shared by the agent cost, capacity, latency and drain stages, so each starts agents the
same way. The agent runs as its own process, exactly as deployed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.gateway_config import gateway_config, write_gateway
from bench.proc import Child, child, python_argv


@contextmanager
def agent(
    name: str, ports: list[int], mqtt_port: int, workdir: Path, **overrides: Any
) -> Iterator[tuple[Child, dict[str, Any]]]:
    """Run one gateway polling `ports` (one device each); yield the process and its config."""
    config = gateway_config(name, ports, mqtt_port, workdir / f"{name}-outbox.sqlite", **overrides)
    path = write_gateway(workdir / f"{name}.yaml", config)
    argv = python_argv("agent", "run", "--config", str(path))
    with child(argv, workdir / f"{name}.log") as process:
        yield process, config
