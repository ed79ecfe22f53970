"""A lean Modbus TCP server for benchmarks: many devices, one port each, one process.

Not the simulators' plant: it serves a fixed register image per device (encoded from a
profile) and answers FC03/FC04 with precomputed frames, so that at hundreds of devices the
load generator stays far cheaper than the agent it feeds. Pipelined requests are answered
in order. Run: `python -m bench.modbus_server --devices N [--profile sdm630]`; it prints
`READY <port> <port> ...` on one line.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import struct
from collections.abc import Callable

from bench.payloads import values_at
from config.profile import Function, Profile, load_profile

_FUNCTION_CODES = {Function.HOLDING: 3, Function.INPUT: 4}
_HEADER = struct.Struct(">HHHBBHH")  # MBAP (tid, pid, length, unit) + fc, address, count


def register_image(profile: Profile, device_index: int) -> dict[int, list[int]]:
    """Function code -> words, for every register of the profile."""
    values = values_at(device_index, 0)
    tables: dict[int, list[int]] = {}
    for name, reg in profile.registers.items():
        code = _FUNCTION_CODES.get(reg.function)
        if code is None:
            continue
        words = tables.setdefault(code, [])
        if len(words) < reg.end:
            words.extend([0] * (reg.end - len(words)))
        value = values.get(name, 1.0)
        words[reg.address : reg.end] = reg.encode(value if reg.type != "string" else "BENCH")
    return tables


class _Device(asyncio.Protocol):
    def __init__(self, tables: dict[int, list[int]]) -> None:
        self.tables = tables
        self.cache: dict[tuple[int, int, int], bytes] = {}
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies = []
        while len(self.buffer) >= 12:
            tid, _, length, unit, code, address, count = _HEADER.unpack_from(self.buffer)
            frame_end = 6 + length
            if len(self.buffer) < frame_end:
                break
            self.buffer = self.buffer[frame_end:]
            pdu = self._pdu(code, address, count)
            replies.append(struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu)
        if replies and self.transport is not None:
            self.transport.write(b"".join(replies))

    def _pdu(self, code: int, address: int, count: int) -> bytes:
        key = (code, address, count)
        pdu = self.cache.get(key)
        if pdu is None:
            pdu = self._build(code, address, count)
            self.cache[key] = pdu
        return pdu

    def _build(self, code: int, address: int, count: int) -> bytes:
        words = self.tables.get(code)
        if words is None:
            return bytes([code | 0x80, 0x01])
        if not 1 <= count <= 125 or address + count > len(words):
            return bytes([code | 0x80, 0x02])
        return struct.pack(f">BB{count}H", code, 2 * count, *words[address : address + count])


def _factory(profile: Profile, index: int) -> Callable[[], _Device]:
    tables = register_image(profile, index)
    return lambda: _Device(tables)


async def serve(devices: int, profile_name: str, host: str) -> None:
    profile = load_profile(profile_name)
    servers = []
    for index in range(devices):
        servers.append(await asyncio.get_running_loop().create_server(_factory(profile, index), host, 0))
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    print("READY", *ports, flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--profile", default="sdm630")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    asyncio.run(serve(args.devices, args.profile, args.host))


if __name__ == "__main__":
    main()
