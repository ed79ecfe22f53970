"""What a Modbus TCP request costs any asyncio poller on this machine: the agent's I/O floor.

The agent's own MBAP client and Ticker read and decode the same planned blocks from the
same devices (bench.modbus_server) at 1 Hz and do nothing else, two ways, each in its own
process, measured by its own `time.process_time` over a window after a warm-up:
- `tasks`: as the agent polls, one owner task per connection, woken by the Ticker, awaiting
  each reply (`agent.modbus.MbapClient`);
- `callbacks`: no task or future per request: one timer sends every request, each reply
  is decoded in its protocol's `data_received`.
What is left between the two is the price of a task per connection; what `callbacks` costs
is the send, the reply's epoll and recv, and the decode, below which no asyncio poller goes.

Run: `.venv/bin/python -m bench.asyncio_floor [--devices 50] [--window 30]` (on demand).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agent.modbus import _MBAP, _REQUEST, FUNCTION_CODES, MbapClient, words_of
from agent.plan import Block, decode_block, plan_profile
from agent.poller import Ticker
from bench.modbus_fixture import devices
from config.profile import load_profile

WARMUP_S = 5.0


def _next_second() -> int:
    return (int(time.time() * 1000) // 1000 + 1) * 1000


async def _owner(port: int, block: Block, ticker: Ticker, decoded: list[int]) -> None:
    client = MbapClient("127.0.0.1", port, 1.0)
    await client.connect()
    while True:
        await ticker.until(_next_second())
        words = await client.read(block.function, 1, block.address, block.count)
        values: dict[str, float | str] = {}
        decode_block(block, words, values)
        decoded.append(len(values))


class _Reader(asyncio.Protocol):
    def __init__(self, block: Block, decoded: list[int]) -> None:
        self.block, self.decoded = block, decoded
        self.code = FUNCTION_CODES[block.function]
        self.tid = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self) -> None:
        assert self.transport is not None
        self.tid = (self.tid + 1) & 0xFFFF
        block = self.block
        self.transport.write(_REQUEST.pack(self.tid, 0, 6, 1, self.code, block.address, block.count))

    def data_received(self, data: bytes) -> None:  # one reply per read here: 157 bytes, one segment
        _, _, length = _MBAP.unpack_from(data)
        values: dict[str, float | str] = {}
        decode_block(self.block, words_of(self.code, self.block.count, data[7:6 + length]), values)
        self.decoded.append(len(values))


async def _callbacks(ports: list[int], block: Block, decoded: list[int]) -> None:
    loop = asyncio.get_running_loop()
    readers = []
    for port in ports:
        _, reader = await loop.create_connection(lambda: _Reader(block, decoded), "127.0.0.1", port)
        readers.append(reader)

    def tick() -> None:
        for reader in readers:
            reader.send()
        loop.call_at(loop.time() + _next_second() / 1000 - time.time(), tick)

    loop.call_at(loop.time() + _next_second() / 1000 - time.time(), tick)


async def _measure(mode: str, ports: list[int], window: float) -> None:
    block = plan_profile(load_profile("sdm630"))[0]
    decoded: list[int] = []
    if mode == "tasks":
        ticker = Ticker(time.time)
        owners = [asyncio.create_task(_owner(port, block, ticker, decoded)) for port in ports]
    else:
        await _callbacks(ports, block, decoded)
    await asyncio.sleep(WARMUP_S)
    polls, cpu = len(decoded), time.process_time()
    await asyncio.sleep(window)  # the measurement window (a benchmark, not a test)
    polls, cpu = len(decoded) - polls, time.process_time() - cpu
    print(f"{mode}: {cpu / max(polls, 1) * 1e6:.1f} us CPU per poll ({polls} polls)", flush=True)
    if mode == "tasks":
        for owner in owners:
            owner.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--mode", choices=("tasks", "callbacks"), help=argparse.SUPPRESS)
    parser.add_argument("--ports", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:  # one side, in its own process
        gc.freeze()
        asyncio.run(_measure(args.mode, [int(p) for p in args.ports.split(",")], args.window))
        return
    with tempfile.TemporaryDirectory() as work, devices(args.devices, Path(work)) as ports:
        for mode in ("tasks", "callbacks", "tasks", "callbacks"):
            subprocess.run([sys.executable, "-m", "bench.asyncio_floor", "--mode", mode,
                            "--ports", ",".join(map(str, ports)), "--window", str(args.window)], check=True)


if __name__ == "__main__":
    main()
