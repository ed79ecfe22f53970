"""The simulated plant as a pure model: every device's physical values at a simulated time.

Nothing here reads a clock or touches the network. Time is simulated seconds since the
plant's start; the server maps the wall clock onto it and tests simply pass times in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from config.codec import DataType
from config.profile import Profile, Register, load_profile
from config.simplant import COUNTER_FAULTS, Device, Fault, FaultKind, Role, SimPlant
from simulators.faults import CounterSegment, DeviceFaults, counter_segments, describe, draw_random_faults
from simulators.physics import LoadSeries
from simulators.schedule import Schedule

COUNTER = "energy_import_kwh"
STATE_CODES = {"idle": 0, "setup": 1, "running": 2, "fault": 3}
SCALE_SHOWS_LOAD_S = 20
"""How long a weighed bin stays on the scale platform after its ticket."""
BIN_TARE_KG = 12.5

Value = float | int | str


@dataclass(frozen=True)
class FaultRecord:
    at_s: float
    device: str
    fault: str
    detail: str


def counter_width_kwh(reg: Register) -> float | None:
    """Where the counter register wraps to 0, in kWh; None if it never does in practice."""
    if reg.rollover is not None:
        return reg.rollover
    bits = reg.counter_bits
    if bits is None and reg.type in (DataType.U32, DataType.U16, DataType.U64):
        bits = 16 * reg.words
    elif bits is None and reg.type in (DataType.I32, DataType.I16, DataType.I64):
        bits = 16 * reg.words - 1
    return None if bits is None else (2**bits) * reg.scale


class Plant:
    def __init__(self, spec: SimPlant) -> None:
        self.spec = spec
        self.schedule = Schedule(spec)
        self.profiles: dict[str, Profile] = {d.id: load_profile(d.profile) for d in spec.devices}
        self.devices: dict[str, Device] = {d.id: d for d in spec.devices}
        last_ticket = max((tks[-1].at_s for tks in self.schedule.tickets.values() if tks), default=0)
        self.horizon_s: int = max(self.schedule.end_s, last_ticket + 1)
        self.loads = {d.id: self._load_of(d) for d in spec.devices if d.role is Role.METER}
        faults = list(spec.faults)
        if spec.random_faults is not None:
            faults += draw_random_faults(spec.random_faults, spec.seed, self.horizon_s)
        self.faults = sorted(faults, key=lambda f: (f.at_s, f.device))
        self._check_faults()
        self._check_labels()
        self.device_faults = {
            d: DeviceFaults([f for f in self.faults if f.device == d]) for d in self.devices
        }
        self._segments = {m: self._segments_of(m) for m in self.loads}

    def _load_of(self, device: Device) -> LoadSeries:
        if device.shared:
            watts = (device.power_kw or 0.0) * 1000.0
            return LoadSeries(self.spec.seed, device.id, lambda _k: watts, device.noise)
        line = next(ln for ln in self.spec.lines if ln.id == device.line)
        share, schedule = device.load_share, self.schedule

        def base_w(k: int) -> float:
            return line.power_kw[schedule.line_state(line.id, k)] * 1000.0 * share  # type: ignore[index]

        return LoadSeries(self.spec.seed, device.id, base_w, line.noise)

    def _check_faults(self) -> None:
        problems = []
        for i, f in enumerate(self.faults):
            if f.kind not in COUNTER_FAULTS:
                continue
            reg = self.profiles[f.device].registers.get(COUNTER)
            if f.device not in self.loads or reg is None:
                problems.append(f"faults[{i}] ({f.device}): {f.kind.value} needs a meter with {COUNTER}")
            elif f.kind is FaultKind.ROLLOVER and counter_width_kwh(reg) is None:
                problems.append(f"faults[{i}] ({f.device}): rollover needs a counter width "
                                f"(profile {self.devices[f.device].profile} declares none)")
        if problems:
            raise ValueError("; ".join(problems))

    def _check_labels(self) -> None:
        """Every scrap category and destination must have a code on each weigh station."""
        problems = []
        for station in (d for d in self.spec.devices if d.role is Role.WEIGH_STATION):
            regs = self.profiles[station.id].registers
            for name, product in self.spec.products.items():
                for category, share in product.scrap.items():
                    for quantity, label in (("scrap_category", category),
                                            ("scrap_destination", share.destination)):
                        known = regs[quantity].labels.values() if quantity in regs else ()
                        if label not in known:
                            problems.append(f"products.{name}.scrap.{category}: {label!r} has no code "
                                            f"in {station.profile}.{quantity} (known: {sorted(known)})")
        if problems:
            raise ValueError("; ".join(problems))

    def _segments_of(self, meter: str) -> list[CounterSegment]:
        load, faults = self.loads[meter], self.device_faults[meter].counter
        reg = self.profiles[meter].registers.get(COUNTER)
        width = counter_width_kwh(reg) if reg else None
        energy_at = {f.at_s: load.energy_kwh(f.at_s) for f in faults}
        return counter_segments(faults, self.devices[meter].counter_start_kwh, width, energy_at)

    # --- what the devices show -------------------------------------------------------------

    def counter_kwh(self, meter: str, t: float) -> float:
        """The meter's import counter at t, with resets, replacements and rollover applied."""
        segments = self._segments[meter]
        seg = next(s for s in reversed(segments) if s.start_s <= t)
        load = self.loads[meter]
        value = seg.base_kwh + load.energy_kwh(t) - load.energy_kwh(seg.start_s)
        reg = self.profiles[meter].registers.get(COUNTER)
        width = counter_width_kwh(reg) if reg else None
        return value % width if width else value

    def values(self, device_id: str, t: float) -> dict[str, Value]:
        """Every quantity the device's role can show at t (the profile picks what it serves)."""
        role = self.devices[device_id].role
        if role is Role.METER:
            return self._meter_values(device_id, t)
        if role is Role.LINE_CONTROLLER:
            return self._controller_values(device_id, t)
        if role is Role.WEIGH_STATION:
            return self._station_values(device_id, t)
        return self._scale_values(t)

    def _meter_values(self, meter: str, t: float) -> dict[str, Value]:
        watts = self.loads[meter].power_w(t)
        volts = 230.0 + 1.5 * math.sin(t / 97.0)
        power_factor = 0.95
        amps = watts / 3.0 / volts / power_factor
        counter = self.counter_kwh(meter, t)
        values: dict[str, Value] = {
            "power_w": watts, "power_factor": power_factor,
            "frequency_hz": 50.0 + 0.02 * math.sin(t / 31.0),
            "energy_import_kwh": counter, "energy_export_kwh": 0.0, "energy_total_kwh": counter,
        }
        for phase in ("l1", "l2", "l3"):
            values[f"power_{phase}_w"] = watts / 3.0
            values[f"voltage_{phase}_v"] = volts
            values[f"current_{phase}_a"] = amps
        return values

    def _controller_values(self, device_id: str, t: float) -> dict[str, Value]:
        line = self.devices[device_id].line or ""
        run = self.schedule.run_at(line, t)
        last = run or self.schedule.last_run_before(line, t)
        return {
            "line_state": STATE_CODES[run.state(t)] if run else STATE_CODES["idle"],
            "batch_id": run.batch_id if run else "",
            "product_code": run.product if run else "",
            "good_units": last.good_units(t) if last else 0,
            "reject_units": last.reject_units(t) if last else 0,
        }

    def _station_values(self, station: str, t: float) -> dict[str, Value]:
        ticket = self.schedule.ticket_at(station, t)
        regs = self.profiles[station].registers
        if ticket is None:
            return {"weighing_seq": 0, "ticket_net_kg": 0.0, "scrap_category": 0,
                    "scrap_destination": 0, "ticket_line": "", "ticket_batch_id": ""}
        return {
            "weighing_seq": ticket.seq, "ticket_net_kg": ticket.mass_kg,
            "scrap_category": _code(regs["scrap_category"], ticket.category),
            "scrap_destination": _code(regs["scrap_destination"], ticket.destination),
            "ticket_line": ticket.line, "ticket_batch_id": ticket.batch_id,
        }

    def _scale_values(self, t: float) -> dict[str, Value]:
        stations = sorted(self.schedule.tickets)
        ticket = self.schedule.ticket_at(stations[0], t) if stations else None
        on_platform = ticket is not None and t - ticket.at_s < SCALE_SHOWS_LOAD_S
        net = ticket.mass_kg if ticket is not None and on_platform else 0.0
        moving = ticket is not None and t - ticket.at_s < 2
        return {"weight_net_kg": net, "weight_gross_kg": net + BIN_TARE_KG,
                "scale_status": 16 if moving else 0, "scale_decimals": 2}

    def read_fault(self, device_id: str, t: float) -> Fault | None:
        return self.device_faults[device_id].window_fault(t)

    def fault_log(self, until_s: float | None = None) -> list[FaultRecord]:
        return [FaultRecord(f.at_s, f.device, f.kind.value, describe(f))
                for f in self.faults if until_s is None or f.at_s <= until_s]


def _code(reg: Register, label: str) -> int:
    for code, name in reg.labels.items():
        if name == label:
            return code
    raise ValueError(f"label {label!r} is not one of {sorted(reg.labels.values())}")
