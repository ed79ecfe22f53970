"""The collector under test: a cloud config written, `python -m cloud run` started until READY."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from bench.proc import Child, child, python_argv
from config.cloud import CloudConfig


def cloud_config(mqtt_port: int, influx_url: str, database: str, **batching: Any) -> dict[str, Any]:
    return {
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "client_id": "bench-collector-{pid}"},
        "influx": {"url": influx_url, "database": database},
        "batching": batching,
        "metrics": {"enabled": False},
    }


@contextmanager
def collector(
    workdir: Path, mqtt_port: int, influx_url: str, database: str, name: str = "collector", **batching: Any
) -> Iterator[Child]:
    config = cloud_config(mqtt_port, influx_url, database, **batching)
    CloudConfig.model_validate(config)
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    argv = python_argv("cloud", "run", "--config", str(path), "--log-level", "WARNING")
    with child(argv, workdir / f"{name}.log", ready="READY", timeout=60) as process:
        yield process
