"""Serve the simulated plant over real Modbus (the only module that imports pymodbus).

One pymodbus server per TCP port (devices sharing a port answer by unit id, as behind a
gateway) and one serial server per RTU bus, on a pty cable. Every read is answered from the
plant model at the simulated instant of the read, through the SimDevice action hook.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymodbus import pymodbus_apply_logging_config
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from config.profile import Function
from config.simplant import Device, FaultKind
from simulators.devices import DeviceImage
from simulators.plant import Plant
from simulators.rtu import PtyCable

SimNow = Callable[[], float]
"""The current simulated time in seconds since the plant's start."""

_TABLES = (Function.COIL, Function.DISCRETE, Function.HOLDING, Function.INPUT)
_FUNCTION_OF_CODE = {1: Function.COIL, 2: Function.DISCRETE, 3: Function.HOLDING, 4: Function.INPUT,
                     5: Function.COIL, 15: Function.COIL, 6: Function.HOLDING, 16: Function.HOLDING}


@dataclass
class Endpoint:
    device: str
    host: str
    port: int
    unit_id: int
    serial: str | None = None


@dataclass
class FaultTally:
    """Reads each fault changed, by `device@at_s` (the ledger's run summary reports them)."""

    reads: Counter[str] = field(default_factory=Counter)

    def count(self, device: str, at_s: float) -> None:
        self.reads[f"{device}@{at_s}"] += 1


class _DeviceAnswer:
    """The SimDevice action of one device: live words, faults, and the read-size limit."""

    def __init__(self, plant: Plant, device: str, now: SimNow, tally: FaultTally) -> None:
        self.image = DeviceImage(plant, device)
        self.plant, self.device, self.now, self.tally = plant, device, now, tally
        self.server: Any = None

    async def answer(self, function_code: int, start_address: int, address: int, count: int,
                       registers: list[int], set_values: list[int] | list[bool] | None) -> ExcCodes | None:
        t = self.now()
        fault = self.plant.read_fault(self.device, t)
        if fault is not None:
            self.tally.count(self.device, fault.at_s)
            if fault.kind is FaultKind.NO_RESPONSE:
                raise NoSuchIdException(f"{self.device}: simulated no response")
            if fault.kind is FaultKind.EXCEPTION:
                return ExcCodes(fault.code or ExcCodes.DEVICE_FAILURE)
            if fault.kind is FaultKind.DISCONNECT:
                self._drop_connections()
                raise NoSuchIdException(f"{self.device}: simulated disconnect")
        if set_values is not None:
            return ExcCodes.ILLEGAL_FUNCTION  # the simulated devices are read-only
        if count > self.image.profile.max_read_registers:
            return ExcCodes.ILLEGAL_VALUE
        function = _FUNCTION_OF_CODE[function_code]
        if function in (Function.HOLDING, Function.INPUT):
            words = self.image.words(function, address, count, t)
            registers[address - start_address : address - start_address + count] = words
        return None

    def _drop_connections(self) -> None:
        connections = getattr(self.server, "active_connections", {}) if self.server else {}
        for connection in list(connections.values()):
            connection.close()


def _sim_device(answer: _DeviceAnswer, unit_id: int) -> SimDevice:
    blocks: list[list[SimData]] = []
    for function in _TABLES:
        span = answer.image.span(function)
        if function in (Function.COIL, Function.DISCRETE):
            first, end = span or (0, 1)
            blocks.append([SimData(first, count=end - first, values=False, datatype=DataType.BITS)])
        elif span is None:
            blocks.append([SimData(0, count=1, datatype=DataType.INVALID)])
        else:
            blocks.append([SimData(span[0], count=span[1] - span[0], datatype=DataType.REGISTERS)])
    return SimDevice(unit_id, simdata=(blocks[0], blocks[1], blocks[2], blocks[3]),
                     action=answer.answer)


def _tcp_groups(devices: list[Device], port_base: int | None) -> dict[tuple[str, int], list[Device]]:
    """Devices by (host, port); port 0 gets its own server (or the next port from port_base)."""
    groups: dict[tuple[str, int], list[Device]] = {}
    next_port = port_base
    for index, device in enumerate(d for d in devices if d.tcp is not None):
        assert device.tcp is not None
        port = device.tcp.port
        if port == 0 and next_port is not None:
            port, next_port = next_port, next_port + 1
        key = (device.tcp.host, port if port else -1 - index)
        groups.setdefault(key, []).append(device)
    return groups


class PlantServer:
    """Every device of the plant on its endpoint; start, then read `endpoints`, then stop."""

    def __init__(self, plant: Plant, now: SimNow, port_base: int | None = None,
                 rtu_links: dict[str, Path] | None = None) -> None:
        """`rtu_links` maps a bus id to where its symlink goes (default: the plant file's path)."""
        self.plant, self.now, self.port_base = plant, now, port_base
        self.rtu_links = rtu_links or {}
        self.tally = FaultTally()
        self.endpoints: dict[str, Endpoint] = {}
        self._servers: list[Any] = []
        self._cables: list[PtyCable] = []

    async def start(self) -> None:
        pymodbus_apply_logging_config(logging.CRITICAL)
        for (host, port), devices in _tcp_groups(self.plant.spec.devices, self.port_base).items():
            answers = [(d, _DeviceAnswer(self.plant, d.id, self.now, self.tally)) for d in devices]
            server = ModbusTcpServer(
                [_sim_device(a, d.tcp.unit_id) for d, a in answers if d.tcp],
                address=(host, max(port, 0)), ignore_missing_devices=True,
            )
            try:
                await server.serve_forever(background=True)
            except RuntimeError as exc:  # pymodbus's word for a failed bind
                names = ", ".join(d.id for d in devices)
                raise OSError(f"cannot listen on {host}:{port} for {names} (port in use?)") from exc
            self._servers.append(server)
            bound = server.transport.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
            for d, a in answers:
                a.server = server
                self.endpoints[d.id] = Endpoint(d.id, host, bound, d.tcp.unit_id if d.tcp else 0)
        for bus in self.plant.spec.rtu_buses:
            await self._start_bus(bus.id, self.rtu_links.get(bus.id, Path(bus.link)), bus.baudrate)

    async def _start_bus(self, bus: str, link: Path, baudrate: int) -> None:
        devices = [d for d in self.plant.spec.devices if d.rtu is not None and d.rtu.bus == bus]
        cable = PtyCable(link)
        cable.start(asyncio.get_running_loop())
        self._cables.append(cable)
        answers = [(d, _DeviceAnswer(self.plant, d.id, self.now, self.tally)) for d in devices]
        server = ModbusSerialServer(
            [_sim_device(a, d.rtu.unit_id) for d, a in answers if d.rtu],
            framer=FramerType.RTU, port=cable.device_path, baudrate=baudrate,
            ignore_missing_devices=True,
        )
        await server.serve_forever(background=True)
        self._servers.append(server)
        for d, _ in answers:
            self.endpoints[d.id] = Endpoint(d.id, "", 0, d.rtu.unit_id if d.rtu else 0, str(link))

    def endpoints_json(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for e in self.endpoints.values():
            if e.serial is None:
                out[e.device] = {"host": e.host, "port": e.port, "unit_id": e.unit_id}
            else:
                out[e.device] = {"serial": e.serial, "unit_id": e.unit_id}
        return out

    async def stop(self) -> None:
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.shutdown()
        for cable in self._cables:
            cable.close()
        self._servers, self._cables = [], []
