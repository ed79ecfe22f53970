"""`batchmeter-cloud gaps --config F`: the seqs missing from each gateway's stored stream.

Found from InfluxDB itself (the `message` measurement, time = seq as ms), not from a
collector's memory, so any replica or an operator gets the same answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from itertools import pairwise

from cloud.influx import InfluxHttp
from config.cloud import CloudConfig, load_cloud_config

HELP = "list the message seqs missing in InfluxDB, per gateway"


def missing_ranges(seqs: list[int]) -> list[tuple[int, int]]:
    """Inclusive ranges absent between the lowest and highest stored seq."""
    ordered = sorted(set(seqs))
    return [(low + 1, high - 1) for low, high in pairwise(ordered) if high - low > 1]


async def find_gaps(influx: InfluxHttp) -> dict[tuple[str, str], list[tuple[int, int]]]:
    """(site, gateway) -> missing seq ranges, for every gateway with stored messages."""
    series = await influx.query('SELECT "seq" FROM "message" GROUP BY "site", "gateway"')
    gaps: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for s in series:
        seqs = [int(row["seq"]) for row in s.rows()]
        gaps[(s.tags.get("site", ""), s.tags.get("gateway", ""))] = missing_ranges(seqs)
    return gaps


def influx_for(config: CloudConfig) -> InfluxHttp:
    settings = config.influx
    return InfluxHttp(
        settings.url, settings.database, settings.retention_policy, settings.username,
        settings.password.get_secret_value() if settings.password else None,
        settings.token.get_secret_value() if settings.token else None, settings.timeout_s,
    )


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="cloud config file (YAML)")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def execute(args: argparse.Namespace) -> int:
    """Print the gaps; exit status 1 when any gateway has one."""
    influx = influx_for(load_cloud_config(args.config))

    async def run() -> dict[tuple[str, str], list[tuple[int, int]]]:
        try:
            return await find_gaps(influx)
        finally:
            await influx.close()

    gaps = asyncio.run(run())
    if args.format == "json":
        print(json.dumps([{"site": s, "gateway": g, "missing": r} for (s, g), r in sorted(gaps.items())]))
    else:
        for (site, gateway), ranges in sorted(gaps.items()):
            text = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges) or "none"
            print(f"{site}/{gateway}: missing {text}")
    return 1 if any(gaps.values()) else 0
