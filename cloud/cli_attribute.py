"""`batchmeter-cloud attribute`: recompute batch results whose data changed (late data included).

Every complete batch starting in the window is attributed again; a result is written, with
its revision raised by one, only when it differs from the stored one.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from cloud.cli_report import add_common, run_attribution
from cloud.influx import InfluxError

HELP = "recompute batch results (energy, CO2e, scrap) where new or late data changed them"


def configure(parser: argparse.ArgumentParser) -> None:
    add_common(parser)


def execute(args: argparse.Namespace) -> int:
    try:
        outcome = asyncio.run(run_attribution(args))
    except InfluxError as exc:
        print(f"attribute: {exc}", file=sys.stderr)
        return 1
    for r in outcome.written:
        print(f"{r.batch_id}: revision {r.revision} ({len(r.alarms)} alarms)")
    print(f"{len(outcome.written)} written, {len(outcome.unchanged)} unchanged")
    return 0
