"""Collector processes for the fault tier, configured against a given broker and store."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.servers import ManagedProcess, wait_until


@dataclass
class CollectorSpec:
    mqtt_host: str
    mqtt_port: int
    influx_url: str
    database: str
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    max_age_ms: int = 200
    retry_max_ms: int = 1000

    def config(self, name: str) -> dict[str, Any]:
        mqtt: dict[str, Any] = {"host": self.mqtt_host, "port": self.mqtt_port,
                                "client_id": f"collector-{name}", "keepalive_s": 5}
        if self.username:
            mqtt |= {"username": self.username, "password": self.password}
        if self.ca_file:
            mqtt["tls"] = {"ca_file": str(self.ca_file)}
        return {
            "mqtt": mqtt,
            "influx": {"url": self.influx_url, "database": self.database, "timeout_s": 2},
            "batching": {"max_age_ms": self.max_age_ms, "retry_initial_ms": 50,
                         "retry_max_ms": self.retry_max_ms},
            "metrics": {"enabled": False},
        }


def start_collector(spec: CollectorSpec, workdir: Path, name: str = "c1") -> ManagedProcess:
    """Start `batchmeter-cloud run` and wait for its READY (subscribed) line."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / f"cloud-{name}.yaml"
    config_path.write_text(yaml.safe_dump(spec.config(name)))
    log = workdir / f"collector-{name}.log"
    process = ManagedProcess([sys.executable, "-m", "cloud", "run", "--config", str(config_path)], log)
    offset = log.stat().st_size if log.exists() else 0
    process.spawn()
    wait_until(lambda: "READY" in log.read_text(errors="replace")[offset:], 30,
               f"collector {name} to subscribe", fail_if=process.exited)
    return process
