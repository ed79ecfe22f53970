"""Gateway config files (config/gateway.py) for agents polling bench.modbus_server devices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from config.gateway import Gateway


def gateway_config(
    gateway: str, ports: list[int], mqtt_port: int, outbox: Path, site: str = "bench",
    resend_after: float = 10.0,
) -> dict[str, Any]:
    """One TCP connection per device (as separate meters on a plant network have)."""
    return {
        "site": site,
        "gateway": gateway,
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "resend_after": resend_after},
        "outbox": {"path": str(outbox)},
        "health_port": None,
        "connections": {f"c{i}": {"type": "tcp", "host": "127.0.0.1", "port": port}
                        for i, port in enumerate(ports)},
        "devices": [{"id": f"{gateway}-m{i:03d}", "connection": f"c{i}", "unit": 1, "profile": "sdm630",
                     "poll_interval": 1.0} for i in range(len(ports))],
    }


def write_gateway(path: Path, config: dict[str, Any]) -> Path:
    Gateway.model_validate(config)  # a bad bench config fails here, not inside the agent
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def device_names(config: dict[str, Any]) -> list[str]:
    return [device["id"] for device in config["devices"]]
