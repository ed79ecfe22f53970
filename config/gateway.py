"""The gateway config file (`batchmeter-agent run --config FILE`): one edge agent's world.

Who the gateway is (site, id), where it publishes (MQTT), where it keeps what it has not
yet had acknowledged (outbox), which buses it owns (connections) and what sits on them
(devices, each with a profile from config/profiles or a path).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.loader import ConfigError, load_file, parse_yaml
from config.profile import Profile, load_profile
from config.wire import Name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tls(_Strict):
    ca_file: Path = Field(description="CA certificate(s) the broker's certificate must chain to")
    cert_file: Path | None = Field(default=None, description="client certificate, for mutual TLS")
    key_file: Path | None = None

    @model_validator(mode="after")
    def _pair(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class Mqtt(_Strict):
    host: str
    port: int = Field(default=1883, ge=1, le=65535)
    tls: Tls | None = None
    username: str | None = None
    password: str | None = None
    keepalive: int = Field(default=30, ge=5, le=3600, description="seconds")
    resend_after: float = Field(default=10.0, gt=0, description="seconds without ack before a re-send")
    window: int = Field(default=200, ge=1, description="messages sent but not yet acknowledged")
    status_every: float = Field(default=30.0, gt=0, description="seconds between health on .../status")


class DropPolicy(StrEnum):
    OLDEST_READINGS = "drop_oldest_readings"
    """Over the cap, the oldest unacknowledged readings messages go (counted); events never."""


class Outbox(_Strict):
    path: Path = Path("/var/lib/batchmeter/outbox.sqlite")
    max_messages: int = Field(default=500_000, ge=10)
    max_bytes: int = Field(default=512 * 1024 * 1024, ge=1024 * 1024)
    policy: DropPolicy = DropPolicy.OLDEST_READINGS


class Parity(StrEnum):
    NONE = "N"
    EVEN = "E"
    ODD = "O"


class _Link(_Strict):
    timeout: float = Field(default=1.0, gt=0, le=30, description="seconds per request")
    retries: int = Field(default=1, ge=0, le=5)
    backoff_max: float = Field(default=60.0, gt=0, description="cap of a quarantined device's backoff")


class TcpConnection(_Link):
    type: Literal["tcp"] = "tcp"
    host: str
    port: int = Field(default=502, ge=1, le=65535)


class RtuOverTcpConnection(_Link):
    type: Literal["rtu_over_tcp"]
    host: str
    port: int = Field(ge=1, le=65535)
    frame_gap: float = Field(default=0.005, ge=0, description="seconds of silence between frames")


class RtuConnection(_Link):
    type: Literal["rtu"]
    port: str = Field(description="serial device, e.g. /dev/ttyUSB0")
    baudrate: int = Field(default=9600, ge=300, le=921600)
    parity: Parity = Parity.NONE
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    frame_gap: float | None = Field(
        default=None, ge=0, description="seconds between frames; default 3.5 characters, at least 1.75 ms"
    )

    def silence(self) -> float:
        if self.frame_gap is not None:
            return self.frame_gap
        bits = 1 + self.bytesize + (0 if self.parity is Parity.NONE else 1) + self.stopbits
        return max(3.5 * bits / self.baudrate, 0.00175)


Connection = Annotated[TcpConnection | RtuOverTcpConnection | RtuConnection, Field(discriminator="type")]


class Device(_Strict):
    id: Name
    connection: str
    unit: int = Field(ge=0, le=247)
    profile: str = Field(description="a name in config/profiles (sdm630) or a path to a profile YAML")
    poll_interval: float = Field(default=1.0, ge=0.05, le=86400, description="seconds, may be below 1")
    line: Name | None = None
    shared: bool = Field(default=False, description="a shared load (dry room, HVAC), allocated later")
    tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _line_or_shared(self) -> Self:
        if self.shared and self.line is not None:
            raise ValueError("a device is on a line or shared, not both")
        return self


class Gateway(_Strict):
    site: Name
    gateway: Name
    mqtt: Mqtt
    outbox: Outbox = Outbox()
    health_port: int | None = Field(default=9108, ge=0, le=65535, description="Prometheus /metrics")
    connections: dict[str, Connection]
    devices: list[Device] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Self:
        problems = []
        seen: set[str] = set()
        for index, device in enumerate(self.devices):
            if device.id in seen:
                problems.append(f"devices.{index}.id: {device.id!r} appears twice")
            seen.add(device.id)
            if device.connection not in self.connections:
                problems.append(
                    f"devices.{index}.connection: {device.connection!r} is not one of "
                    f"{sorted(self.connections)}"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self


def load_gateway(path: str | Path) -> tuple[Gateway, dict[str, Profile]]:
    """Read a gateway file and every profile its devices name (relative paths: from the file)."""
    gateway = load_file(Gateway, path)
    profiles: dict[str, Profile] = {}
    for index, device in enumerate(gateway.devices):
        ref = device.profile
        if Path(ref).suffix and not Path(ref).is_absolute():
            ref = str(Path(path).parent / ref)
        try:
            profiles[device.id] = load_profile(ref)
        except ConfigError as exc:
            _, lines = parse_yaml(Path(path).read_text(encoding="utf-8"), str(path))
            line = lines.get(("devices", index, "profile"))
            where = f"line {line}, " if line else ""
            raise ConfigError(str(path), [f"{where}key devices.{index}.profile: {exc}"]) from None
    return gateway, profiles
