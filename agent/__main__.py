"""`batchmeter-agent`: run the edge agent, check a config against the devices, probe a register.

Config errors print where they are (file, key, line) and exit 2, without a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence

from agent.modbus import ModbusLink, ReadFailed
from agent.poller import DevicePoller
from config.codec import CodecError, DataType, WordOrder, decode_raw
from config.gateway import Gateway, TcpConnection, load_gateway
from config.loader import ConfigError
from config.profile import Function, Profile


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="batchmeter-agent", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="poll, store and publish until stopped")
    run.add_argument("--config", required=True)
    check = sub.add_parser("check", help="validate the config, read every device once, print values")
    check.add_argument("--config", required=True)
    probe = sub.add_parser("probe", help="read one register block and show it as every type and order")
    probe.add_argument("--host", required=True)
    probe.add_argument("--port", type=int, default=502)
    probe.add_argument("--unit", type=int, default=1)
    probe.add_argument(
        "--address", type=lambda text: int(text, 0), required=True, help="0-based wire address"
    )
    probe.add_argument("--count", type=int, default=4)
    probe.add_argument("--function", choices=["holding", "input"], default="holding")
    probe.add_argument("--timeout", type=float, default=2.0)
    sub.add_parser("schema", help="print the JSON Schema of the gateway config")
    return parser


async def _check(gateway: Gateway, profiles: dict[str, Profile]) -> int:
    failures = 0
    for device in gateway.devices:
        connection = gateway.connections[device.connection]
        link = ModbusLink(connection)
        poller = DevicePoller(device, profiles[device.id], connection.retries, connection.backoff_max)
        try:
            result = await poller.poll(link, int(time.time() * 1000), time.time)
        finally:
            link.close()
        if result.error:
            failures += 1
            print(f"{device.id}: FAILED ({result.error})")
            continue
        print(f"{device.id}: ok")
        for quantity, value in sorted(result.values.items()):
            print(f"  {quantity} = {value!r}")
        for quantity in poller.stats.unreadable:
            print(f"  {quantity}: refused by the device (exception 02)")
    return 1 if failures else 0


def probe_table(address: int, words: Sequence[int]) -> list[str]:
    """Every word and every value that could start at each word, in every word order."""
    lines = ["wire(0-based) manual(1-based)   hex     u16     i16"]
    for i, word in enumerate(words):
        signed = word - 0x10000 if word & 0x8000 else word
        lines.append(f"{address + i:>13} {address + i + 1:>15} 0x{word:04X} {word:>7} {signed:>7}")
    wide = [t for t in DataType if t not in (DataType.U16, DataType.I16, DataType.STRING)]
    for dtype in wide:
        size = 2 if dtype in (DataType.U32, DataType.I32, DataType.F32) else 4
        for i in range(len(words) - size + 1):
            cells = []
            for order in WordOrder:
                try:
                    cells.append(f"{order.value}={decode_raw(words[i:i + size], dtype, order)!r}")
                except CodecError as exc:
                    cells.append(f"{order.value}=({exc})")
            lines.append(f"{dtype.value:>6} @ {address + i} (1-based {address + i + 1}): " + "  ".join(cells))
    lines.append(f"string @ {address}: {decode_raw(words, DataType.STRING)!r}")
    return lines


async def _probe(args: argparse.Namespace) -> int:
    link = ModbusLink(TcpConnection(host=args.host, port=args.port, timeout=args.timeout, retries=0))
    try:
        words = await link.read(Function(args.function), args.unit, args.address, args.count)
    except ReadFailed as exc:
        print(f"read failed: {exc.reason} ({exc})", file=sys.stderr)
        return 1
    finally:
        link.close()
    print("\n".join(probe_table(args.address, words)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "schema":
        print(json.dumps(Gateway.model_json_schema(), indent=2))
        return 0
    if args.command == "probe":
        return asyncio.run(_probe(args))
    try:
        gateway, profiles = load_gateway(args.config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    if args.command == "check":
        return asyncio.run(_check(gateway, profiles))
    return asyncio.run(_run(gateway, profiles))


async def _run(gateway: Gateway, profiles: dict[str, Profile]) -> int:
    """Run until SIGTERM/SIGINT; then say `offline` on the status topic (no will on a clean stop)."""
    from agent.app import Agent  # only `run` needs the MQTT and SQLite adapters
    from agent.outbox import OutboxError

    try:
        agent = Agent(gateway, profiles)
    except OutboxError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    # what start-up made (modules, config and profile models) lives as long as the process:
    # out of the garbage collector's way, its passes walk only what polling allocates
    gc.freeze()
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()

    def stop() -> None:
        agent.publisher.stop()
        task.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    try:
        await agent.run()
    except asyncio.CancelledError:
        pass
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(agent.publisher.say_offline(), 3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
