"""`batchmeter-cloud settle`: pack settled counter readings into blocks (cloud.blocks).

Run it periodically (every few minutes, like `attribute`): each run packs the blocks that
settled since, and packs again any block that late readings made stale. Reports then read
a batch's settled readings from a few blocks instead of every reading.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from cloud.cli_report import DAY_MS, influx_of, load, parse_time
from cloud.influx import InfluxError
from cloud.settle import Settled, settle

HELP = "pack settled counter readings into blocks, so reports read a batch's readings quickly"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="cloud config file (InfluxDB, plant_file)")
    parser.add_argument("--from", dest="from_", metavar="ISO", help="readings from (UTC); default: a day ago")
    parser.add_argument("--to", metavar="ISO", help="readings up to (UTC); default: now")


async def run_settle(args: argparse.Namespace) -> Settled:
    config, plant = load(args.config)
    now_ms = int(time.time() * 1000)
    influx = influx_of(config)
    try:
        return await settle(influx, plant, parse_time(args.from_, "--from", now_ms - DAY_MS),
                            parse_time(args.to, "--to", now_ms), now_ms)
    finally:
        await influx.close()


def execute(args: argparse.Namespace) -> int:
    try:
        done = asyncio.run(run_settle(args))
    except InfluxError as exc:
        print(f"settle: {exc}", file=sys.stderr)
        return 1
    print(f"{done.packed} blocks packed ({done.readings} readings), {done.current} already current"
          + (f", {done.too_big} too big to pack" if done.too_big else ""))
    return 0
