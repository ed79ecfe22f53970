"""Synthetic plant data in the project's own shapes: wire messages and line-protocol points.

Values look like an SDM630's (voltages, currents, powers, a rising energy counter) so payload
sizes and float formatting cost what real ones do.
"""

from __future__ import annotations

from config.wire import Reading, ReadingsMessage

SDM630_QUANTITIES = (
    "voltage_l1_v", "voltage_l2_v", "voltage_l3_v", "current_l1_a", "current_l2_a", "current_l3_a",
    "power_l1_w", "power_l2_w", "power_l3_w", "power_w", "frequency_hz", "energy_import_kwh",
)


def device_ids(count: int, prefix: str = "m") -> list[str]:
    return [f"{prefix}{index:04d}" for index in range(count)]


def values_at(device_index: int, second: int) -> dict[str, float | str]:
    base = 230.0 + (device_index % 7) * 0.1
    current = 10.0 + (device_index % 13) + (second % 60) * 0.01
    power = 3 * base * current
    values: dict[str, float | str] = {}
    for name in SDM630_QUANTITIES:
        if name.startswith("voltage"):
            values[name] = base
        elif name.startswith("current"):
            values[name] = current
        elif name == "power_w":
            values[name] = power
        elif name.startswith("power"):
            values[name] = power / 3
        elif name == "frequency_hz":
            values[name] = 50.01
        else:
            values[name] = 1000.0 + device_index + second * power / 3.6e6
    return values


def readings_message(
    gateway: str, seq: int, devices: list[str], ts_ms: int, site: str = "bench"
) -> ReadingsMessage:
    """One poll cycle of a gateway: every device read at `ts_ms`."""
    second = ts_ms // 1000
    readings = [
        Reading(device=device, ts_ms=ts_ms, values=values_at(index, second))
        for index, device in enumerate(devices)
    ]
    return ReadingsMessage(site=site, gateway=gateway, seq=seq, readings=readings)


def readings_payload(gateway: str, seq: int, devices: list[str], ts_ms: int) -> bytes:
    return readings_message(gateway, seq, devices, ts_ms).model_dump_json().encode()


def line_prefixes(devices: list[str], gateway: str = "g0", site: str = "bench") -> list[str]:
    """`reading,<tags> <fields> ` per device; a timestamp appended makes a point."""
    prefixes = []
    for index, device in enumerate(devices):
        fields = ",".join(f"{k}={float(v)!r}" for k, v in values_at(index, 0).items())
        prefixes.append(f"reading,device={device},gateway={gateway},site={site} {fields} ")
    return prefixes
