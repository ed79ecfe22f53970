"""The Modbus adapter: the only module of the agent that imports pymodbus (pinned to 3.16).

`ModbusLink` is one connection (TCP, RTU over TCP, or a serial RTU bus). It sends one
request at a time and maps pymodbus's results and exceptions onto the agent's own:
`ReadTimeout`, `ReadRefused(code)`, `LinkDown`. Retries and reconnects are the caller's
(pymodbus's own are switched off) so that their bounds and backoff are ours.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from config.gateway import RtuConnection, RtuOverTcpConnection, TcpConnection
from config.profile import Function


class ReadFailed(Exception):
    """A read that produced no values; `reason` is what the reading's `error` says."""

    reason = "error"


class ReadTimeout(ReadFailed):
    reason = "timeout"


class ReadRefused(ReadFailed):
    def __init__(self, code: int) -> None:
        super().__init__(f"exception {code}")
        self.code = code
        self.reason = f"exception:{code}"


class LinkDown(ReadFailed):
    reason = "disconnected"


ILLEGAL_ADDRESS = 2


class ModbusLink:
    def __init__(self, connection: TcpConnection | RtuOverTcpConnection | RtuConnection) -> None:
        self.connection = connection
        self.silence = 0.0
        if isinstance(connection, RtuConnection):
            self.silence = connection.silence()
        elif isinstance(connection, RtuOverTcpConnection):
            self.silence = connection.frame_gap
        self.client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self._last_frame = 0.0

    def _make_client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        """Made inside the running loop (pymodbus binds to it); pymodbus's own retries are off."""
        connection = self.connection
        common: dict[str, Any] = {"timeout": connection.timeout, "retries": 0, "reconnect_delay": 0}
        if isinstance(connection, RtuConnection):
            return AsyncModbusSerialClient(
                connection.port, framer=FramerType.RTU, baudrate=connection.baudrate,
                parity=connection.parity.value, stopbits=connection.stopbits,
                bytesize=connection.bytesize, **common,
            )
        framer = FramerType.RTU if isinstance(connection, RtuOverTcpConnection) else FramerType.SOCKET
        return AsyncModbusTcpClient(connection.host, port=connection.port, framer=framer, **common)

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
        """One request, one response: the words (coils and inputs as 0/1) or a ReadFailed."""
        if not self.connected:
            await self.connect()
        await self._keep_silence()
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
        finally:
            self._last_frame = time.monotonic()
        if response.isError():
            raise ReadRefused(int(getattr(response, "exception_code", 0)))
        if function in (Function.COIL, Function.DISCRETE):
            return [int(bit) for bit in response.bits[:count]]
        words: list[int] = response.registers
        if len(words) < count:
            raise ReadFailed(f"short response: {len(words)} of {count} registers")
        return words

    async def _keep_silence(self) -> None:
        """RTU needs a quiet line between frames; the wait is the bus's, not the device's."""
        if self.silence:
            wait = self._last_frame + self.silence - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)

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
