"""`batchmeter-cloud report`: attribute what is new, then print or write the batch report.

Recomputes first (as `attribute` does), so a report always reflects the data stored now.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from cloud.influx import InfluxError, InfluxHttp
from cloud.reports import FORMATS, select
from cloud.results import Outcome, Window, recompute
from config.cloud import CloudConfig, load_cloud_config
from config.loader import ConfigError
from config.plant import PlantModel, load_plant

HELP = "attribute energy, CO2e and scrap to batches and report them (text, csv or json)"
DAY_MS = 86_400_000


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="cloud config file (InfluxDB, plant_file)")
    parser.add_argument("--from", dest="from_", metavar="ISO", help="batches starting at or after (UTC)")
    parser.add_argument("--to", metavar="ISO", help="batches starting before (UTC); default: now + 1 day")


def configure(parser: argparse.ArgumentParser) -> None:
    add_common(parser)
    parser.add_argument("--line", help="only this line")
    parser.add_argument("--product", help="only this product")
    parser.add_argument("--format", choices=sorted(FORMATS), default="text")
    parser.add_argument("--out", type=Path, help="write here instead of stdout")


def parse_time(text: str | None, option: str, default_ms: int) -> int:
    if text is None:
        return default_ms
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(option, [f"{text!r} is not an ISO 8601 time (e.g. 2025-03-01T06:00:00Z)"]) from None
    return round((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


def load(config_path: Path) -> tuple[CloudConfig, PlantModel]:
    config = load_cloud_config(config_path)
    if config.plant_file is None:
        raise ConfigError(str(config_path), ["key plant_file: needed for attribution (a plant model file)"])
    return config, load_plant(config.plant_file)


def influx_of(config: CloudConfig) -> InfluxHttp:
    s = config.influx
    return InfluxHttp(
        s.url, s.database, retention_policy=s.retention_policy, username=s.username,
        password=s.password.get_secret_value() if s.password else None,
        token=s.token.get_secret_value() if s.token else None, timeout=s.timeout_s,
    )


async def run_attribution(args: argparse.Namespace) -> Outcome:
    config, plant = load(args.config)
    now_ms = int(time.time() * 1000)  # the one clock read: stamped on results as computed_at
    window = Window(parse_time(args.from_, "--from", 0), parse_time(args.to, "--to", now_ms + DAY_MS))
    influx = influx_of(config)
    try:
        return await recompute(influx, plant, window, now_ms)
    finally:
        await influx.close()


def execute(args: argparse.Namespace) -> int:
    try:
        outcome = asyncio.run(run_attribution(args))
    except InfluxError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 1
    results = select(outcome.current(), line=args.line, product=args.product)
    text = FORMATS[args.format](results)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(args.out)
    return 0
