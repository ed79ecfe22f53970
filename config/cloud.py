"""The cloud config file (`batchmeter-cloud run --config FILE`): broker, store, limits, API.

Relative paths (`plant_file`, TLS files) are resolved against the cloud file's folder, so a
config folder can be moved as a whole. Defaults are the ones documented in
config/examples/cloud.yaml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from config.loader import load_file
from config.wire import NAME_PATTERN


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MqttTls(_Strict):
    ca_file: Path | None = None
    """CA bundle that signed the broker's certificate; none: the system's trust store."""
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = False
    """Skip the broker host name check (test brokers only)."""


class MqttSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    tls: MqttTls | None = None
    username: str | None = None
    password: SecretStr | None = None
    client_id: str = Field(default="batchmeter-collector", min_length=1, max_length=128)
    """Unique per replica; `{pid}` and `{host}` are replaced at start."""
    share_group: str | None = Field(default="batchmeter", pattern=NAME_PATTERN)
    """Replicas in one group split the traffic; none: every replica gets every message."""
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    qos: int = Field(default=1, ge=0, le=1)


class InfluxSettings(_Strict):
    url: str = "http://127.0.0.1:8086"
    database: str = Field(default="batchmeter", min_length=1)
    retention_policy: str | None = None
    username: str | None = None
    """InfluxDB 1.x authentication (with `password`)."""
    password: SecretStr | None = None
    token: SecretStr | None = None
    """InfluxDB 2.x/3.x token for the v1-compatible API; exclusive with username/password."""
    timeout_s: float = Field(default=10.0, gt=0, le=300)

    @model_validator(mode="after")
    def _one_kind_of_auth(self) -> Self:
        if self.token is not None and self.username is not None:
            raise ValueError("give either token (InfluxDB 2.x/3.x) or username/password (1.x), not both")
        return self


class BatchingSettings(_Strict):
    max_points: int = Field(default=10_000, ge=1, le=1_000_000)
    """A write is sent when this many points are waiting..."""
    max_age_ms: int = Field(default=500, ge=1, le=60_000)
    """...or when the batch was opened this long ago."""
    writers: int = Field(default=2, ge=1, le=8)
    """Writes in flight at once. InfluxDB parses a request on one core; with two, it takes
    the next batch while the collector is still reading its answer to the last one."""
    retry_initial_ms: int = Field(default=200, ge=1)
    retry_max_ms: int = Field(default=30_000, ge=1)
    """Backoff between failed writes doubles up to this cap (a server's Retry-After wins)."""
    shutdown_grace_s: float = Field(default=10.0, ge=0, le=600)
    """On SIGTERM, how long to keep trying to write what was received before exiting unacked."""
    inbound_queue: int = Field(default=20_000, ge=10)
    """Messages received but not yet parsed; when full the MQTT socket is not read (backpressure)."""


class ValidationSettings(_Strict):
    max_payload_bytes: int = Field(default=4 * 1024 * 1024, ge=256)
    max_past_ms: int = Field(default=400 * 86_400_000, ge=0)
    """Readings older than this (vs. receive time) are refused: gateways buffer for weeks, not years."""
    max_future_ms: int = Field(default=86_400_000, ge=0)
    """Readings further ahead than this are refused: a gateway clock gone wild (2037, not a step).

    A day, because the usual mistake is a gateway clock set to local time instead of UTC, off
    by whole hours (up to 14): its readings are still real and are stored, not dead-lettered,
    since dead-lettered messages are acknowledged and leave the gateway's outbox."""


class ApiSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    tokens: list[SecretStr] = Field(default_factory=list)


class MetricsSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)
    """Prometheus text endpoint at /metrics; 0 picks a free port (tests)."""
    enabled: bool = True


class CloudConfig(_Strict):
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    influx: InfluxSettings = Field(default_factory=InfluxSettings)
    batching: BatchingSettings = Field(default_factory=BatchingSettings)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    plant_file: Path | None = None
    """Plant model for attribution (config/plant.py); relative to this file."""

    def resolved(self, base: Path) -> CloudConfig:
        """This config with relative paths made absolute against `base` (the file's folder)."""

        def fix(path: Path | None) -> Path | None:
            return None if path is None or path.is_absolute() else (base / path).resolve()

        tls = self.mqtt.tls
        if tls is not None:
            tls = tls.model_copy(update={
                key: fix(getattr(tls, key)) or getattr(tls, key)
                for key in ("ca_file", "cert_file", "key_file")
            })
        mqtt = self.mqtt.model_copy(update={"tls": tls})
        return self.model_copy(update={"mqtt": mqtt, "plant_file": fix(self.plant_file) or self.plant_file})


def load_cloud_config(path: str | Path) -> CloudConfig:
    """Read a cloud config file; ConfigError names file, key and line."""
    path = Path(path)
    return load_file(CloudConfig, path).resolved(path.parent.resolve())
