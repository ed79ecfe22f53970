"""Modbus RTU (serial) and RTU over TCP through pymodbus: the only module that imports it.

pymodbus is pinned to 3.16 (its API changes between minor releases). agent.modbus imports
this module only when a link needs it, so a TCP-only gateway never loads pymodbus.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from agent.modbus import LinkDown, ReadFailed, ReadRefused, ReadTimeout
from config.gateway import RtuConnection, RtuOverTcpConnection
from config.profile import Function


class PymodbusClient:
    """Serial RTU and RTU over TCP, through pymodbus (its own retries off)."""

    def __init__(self, connection: RtuOverTcpConnection | RtuConnection) -> None:
        self.connection = connection
        self.client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None

    def _make_client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        """Made inside the running loop (pymodbus binds to it)."""
        connection = self.connection
        common: dict[str, Any] = {"timeout": connection.timeout, "retries": 0, "reconnect_delay": 0}
        if isinstance(connection, RtuConnection):
            return AsyncModbusSerialClient(
                connection.port, framer=FramerType.RTU, baudrate=connection.baudrate,
                parity=connection.parity.value, stopbits=connection.stopbits,
                bytesize=connection.bytesize, **common,
            )
        return AsyncModbusTcpClient(connection.host, port=connection.port, framer=FramerType.RTU, **common)

    @property
    def connected(self) -> bool:
        return self.client is not None and bool(self.client.connected)

    async def connect(self) -> None:
        if self.client is None:
            self.client = self._make_client()
        try:
            ok = await asyncio.wait_for(self.client.connect(), self.connection.timeout + 1)
        except (TimeoutError, OSError, ModbusException) as exc:
            raise LinkDown(f"connect failed: {exc}") from exc
        if not ok:
            raise LinkDown("connect failed")

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    async def read(self, function: Function, unit: int, address: int, count: int) -> list[int]:
        try:
            # pymodbus bounds the wait by `timeout` itself; another wait_for would cost a task per request
            response = await self._request(function, unit, address, count)
        except TimeoutError as exc:
            raise ReadTimeout("no response") from exc
        except ConnectionException as exc:
            raise LinkDown(str(exc)) from exc
        except ModbusIOException as exc:
            if not self.connected:
                raise LinkDown(str(exc)) from exc
            raise ReadTimeout(str(exc)) from exc
        except ModbusException as exc:
            raise ReadFailed(str(exc)) from exc
        if response.isError():
            raise ReadRefused(int(getattr(response, "exception_code", 0)))
        if function in (Function.COIL, Function.DISCRETE):
            return [int(bit) for bit in response.bits[:count]]
        words: list[int] = response.registers
        if len(words) < count:
            raise ReadFailed(f"short response: {len(words)} of {count} registers")
        return words

    def _request(self, function: Function, unit: int, address: int, count: int) -> Any:
        client = self.client
        assert client is not None  # connect() made it
        if function is Function.HOLDING:
            return client.read_holding_registers(address, count=count, device_id=unit)
        if function is Function.INPUT:
            return client.read_input_registers(address, count=count, device_id=unit)
        if function is Function.COIL:
            return client.read_coils(address, count=count, device_id=unit)
        return client.read_discrete_inputs(address, count=count, device_id=unit)
