"""A scriptable Modbus server for the agent's tests: fixed registers, refusals, delays, dead units.

Runs pymodbus's real TCP or RTU server in a thread of its own, so the agent under test
talks to it over a real socket or a real pty. Each unit has holding and input tables
(unset registers read as 0), a set of addresses that answer exception 02, an optional
exception code for every request, a delay, or `dead` (no answer at all).
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import threading
import tty
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusSerialServer, ModbusTcpServer

from config.codec import DataType, Decoded, WordOrder, encode
from config.profile import Profile
from tests.servers import free_port, wait_until


@dataclass
class Unit:
    holding: dict[int, int] = field(default_factory=dict)
    input: dict[int, int] = field(default_factory=dict)
    illegal: set[int] = field(default_factory=set)
    exception: int | None = None
    delay: float = 0.0
    dead: bool = False
    requests: list[tuple[int, int, int]] = field(default_factory=list)

    def table(self, function: str) -> dict[int, int]:
        return self.holding if function == "holding" else self.input

    def put(self, function: str, address: int, words: list[int]) -> None:
        table = self.table(function)
        for i, word in enumerate(words):
            table[address + i] = word

    def set(self, function: str, address: int, dtype: DataType, value: Decoded,
            order: WordOrder = WordOrder.ABCD, scale: float = 1.0, length: int = 0) -> None:
        self.put(function, address, encode(value, dtype, order, scale, length=length))

    def set_quantity(self, profile: Profile, quantity: str, value: Decoded) -> None:
        """Write a physical value through a profile (labels: pass the label text)."""
        reg = profile.registers[quantity]
        if isinstance(value, str) and reg.labels:
            value = next(code for code, label in reg.labels.items() if label == value)
        self.put(reg.function.value, reg.address, reg.encode(value))


class ScriptedContext(ModbusServerContext):
    """A server context that answers from `units`; pymodbus treats it as an old-style simulator."""

    def __init__(self) -> None:  # no super().__init__: it insists on deprecated device contexts
        self.old_simulator = True
        self.simdevices = []
        self.units: dict[int, Unit] = {}

    async def async_getValues(self, device_id: int, func_code: int, address: int,
                              count: int = 1) -> list[int] | ExcCodes:
        unit = self.units.get(device_id)
        if unit is None or unit.dead:
            raise NoSuchIdException(f"unit {device_id} does not answer")
        unit.requests.append((func_code, address, count))
        if unit.delay:
            await asyncio.sleep(unit.delay)
        if unit.exception is not None:
            return ExcCodes(unit.exception)
        if any(a in unit.illegal for a in range(address, address + count)):
            return ExcCodes.ILLEGAL_ADDRESS
        table = unit.holding if func_code == 3 else unit.input
        return [table.get(a, 0) for a in range(address, address + count)]

    async def async_setValues(self, device_id: int, func_code: int, address: int,
                              values: Any) -> ExcCodes | None:
        return ExcCodes.ILLEGAL_FUNCTION

    def device_ids(self) -> list[int]:
        return list(self.units)


class ModbusTestServer:
    """`with ModbusTestServer() as server:` serve TCP on a free loopback port (or RTU on `serial`)."""

    def __init__(self, serial: str | None = None, baudrate: int = 38400) -> None:
        self.context = ScriptedContext()
        self.port = free_port()
        self.host = "127.0.0.1"
        self.serial = serial
        self.baudrate = baudrate
        self._loop = asyncio.new_event_loop()
        self._server: ModbusTcpServer | ModbusSerialServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def unit(self, unit_id: int) -> Unit:
        return self.context.units.setdefault(unit_id, Unit())

    async def _start(self) -> None:
        if self.serial:
            self._server = ModbusSerialServer(self.context, framer=FramerType.RTU, port=self.serial,
                                              baudrate=self.baudrate, ignore_missing_devices=True)
        else:
            self._server = ModbusTcpServer(self.context, address=(self.host, self.port),
                                           ignore_missing_devices=True)
        await self._server.serve_forever(background=True)

    def start(self) -> ModbusTestServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        if not self.serial:
            wait_until(self._accepts, 10, f"modbus test server on {self.port}")
        return self

    def _accepts(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex((self.host, self.port)) == 0

    def stop(self) -> None:
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(
                self._server.shutdown(), self._loop  # type: ignore[no-untyped-call]
            ).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> ModbusTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class PtyBridge:
    """Two ptys joined back to back: a serial line with a server end and a client end."""

    def __init__(self) -> None:
        self._fds = [os.openpty(), os.openpty()]
        for _master, slave in self._fds:
            tty.setraw(slave)
        self.server_port = os.ttyname(self._fds[0][1])
        self.client_port = os.ttyname(self._fds[1][1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, daemon=True)

    def _pump(self) -> None:
        a, b = self._fds[0][0], self._fds[1][0]
        while not self._stop.is_set():
            ready, _, _ = select.select([a, b], [], [], 0.1)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                os.write(b if fd == a else a, data)

    def __enter__(self) -> PtyBridge:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for master, slave in self._fds:
            for fd in (master, slave):
                os.close(fd)


def units_requests(server: ModbusTestServer) -> Iterator[tuple[int, int, int, int]]:
    for unit_id, unit in server.context.units.items():
        for request in unit.requests:
            yield (unit_id, *request)
