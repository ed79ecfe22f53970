"""The floor under the agent: a bare pymodbus client polling the same registers, nothing else.

Same devices, same planned blocks (agent/plan.py), same 1 Hz period, one connection per
device, every device of a cycle read concurrently; no decoding, no outbox, no MQTT. Run as
its own process so its CPU is measured exactly like the agent's. On SIGTERM it prints
`POLLS <device polls> LATE <cycles that overran their period>`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time

from pymodbus.client import AsyncModbusTcpClient

from agent.plan import Block, plan_profile
from config.profile import Function, load_profile

_READERS = {Function.INPUT: "read_input_registers", Function.HOLDING: "read_holding_registers"}


async def _poll(client: AsyncModbusTcpClient, blocks: list[Block]) -> None:
    for block in blocks:
        read = getattr(client, _READERS[block.function])
        response = await read(block.address, count=block.count, device_id=1)
        if response.isError():
            raise RuntimeError(f"device refused {block}: {response}")


async def run(host: str, ports: list[int], profile_name: str, interval: float) -> tuple[int, int]:
    blocks = plan_profile(load_profile(profile_name))
    clients = [AsyncModbusTcpClient(host, port=port, timeout=2, retries=0) for port in ports]
    for client in clients:
        await client.connect()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    print("READY", flush=True)
    polls = late = 0
    next_at = time.monotonic()
    while not stop.is_set():
        await asyncio.gather(*(_poll(client, blocks) for client in clients))
        polls += len(clients)
        next_at += interval
        delay = next_at - time.monotonic()
        if delay < 0:
            late += 1
            next_at = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(delay, 0))
    for client in clients:
        client.close()
    return polls, late


def main() -> None:
    parser = argparse.ArgumentParser(description="bare pymodbus polling loop (the agent's floor)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ports", required=True, help="comma-separated, one device per port")
    parser.add_argument("--profile", default="sdm630")
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    ports = [int(p) for p in args.ports.split(",")]
    polls, late = asyncio.run(run(args.host, ports, args.profile, args.interval))
    print(f"POLLS {polls} LATE {late}", flush=True)


if __name__ == "__main__":
    main()
