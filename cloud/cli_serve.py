"""`batchmeter-cloud serve --config F`: the batch API and dashboard over stored results.

The composition root of the serving process: cloud config -> InfluxDB adapter -> results
source -> ASGI app -> uvicorn. Serves what attribution stored; it does not recompute.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

import uvicorn

from cloud.api import create_app
from cloud.cli_report import influx_of
from cloud.web.influx_source import InfluxResultsSource
from config.cloud import CloudConfig, load_cloud_config
from config.loader import ConfigError

HELP = "serve the batch API and dashboard (api.host, api.port, api.tokens in the cloud config)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="cloud config file")
    parser.add_argument("--host", help="override api.host")
    parser.add_argument("--port", type=int, help="override api.port")


def tokens_of(config: CloudConfig, source: str) -> list[str]:
    tokens = [t.get_secret_value() for t in config.api.tokens if t.get_secret_value()]
    if not tokens:
        # an API nobody can call is a config mistake, and an open one would be worse
        raise ConfigError(source, ["key api.tokens: give at least one token"])
    return tokens


async def serve(config: CloudConfig, tokens: list[str], host: str, port: int) -> None:
    influx = influx_of(config)
    app = create_app(InfluxResultsSource(influx), tokens)
    # uvicorn's access log prints query strings, which may carry ?token=; the app logs paths only
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, access_log=False, log_level="warning"))
    print(f"serving http://{host}:{port}/", flush=True)
    try:
        await server.serve()
    finally:
        await influx.close()


def execute(args: argparse.Namespace) -> int:
    config = load_cloud_config(args.config)
    tokens = tokens_of(config, str(args.config))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    asyncio.run(serve(config, tokens, args.host or config.api.host, args.port or config.api.port))
    return 0
