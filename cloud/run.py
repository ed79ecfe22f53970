"""`batchmeter-cloud run --config F`: the collector process (composition root).

Wires the MQTT link, the InfluxDB adapter, the metrics endpoint and the collector, and
runs until SIGTERM/SIGINT, then writes what it received and exits. Prints `READY` on its
own stdout line once subscribed, and `METRICS <port>` when the metrics endpoint listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable

from cloud.collector import Collector
from cloud.gaps import influx_for
from cloud.metrics import Metrics, serve_metrics
from cloud.mqtt import MqttLink
from config.cloud import CloudConfig, load_cloud_config
from config.wire import TopicKind, subscription

HELP = "run the collector: MQTT -> InfluxDB, with end-to-end acks"
log = logging.getLogger("cloud.collector")


def client_id(config: CloudConfig) -> str:
    return config.mqtt.client_id.replace("{pid}", str(os.getpid())).replace("{host}", socket.gethostname())


async def run_collector(
    config: CloudConfig, stop: asyncio.Event, metrics: Metrics | None = None,
    on_ready: Callable[[], object] = lambda: print("READY", flush=True),
) -> Metrics:
    """Collect until `stop` is set; return the metrics (tests read them)."""
    metrics = metrics or Metrics()
    group = config.mqtt.share_group
    subscriptions = [subscription(TopicKind.READINGS, group), subscription(TopicKind.EVENTS, group)]
    name = client_id(config)
    link = MqttLink(config.mqtt, name, subscriptions, config.batching.inbound_queue)
    influx = influx_for(config)
    server = None
    if config.metrics.enabled:
        server = await serve_metrics(metrics, config.metrics.host, config.metrics.port)
        print(f"METRICS {server.sockets[0].getsockname()[1]}", flush=True)
    collector = Collector(config, link, influx, link, metrics, name)
    announce = asyncio.create_task(_announce_ready(link, on_ready))
    await link.start()
    try:
        await collector.run(stop)
    finally:
        announce.cancel()
        await link.stop()
        await influx.close()
        if server is not None:
            server.close()
    return metrics


async def _announce_ready(link: MqttLink, on_ready: Callable[[], object]) -> None:
    await link.wait_subscribed()
    on_ready()


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="cloud config file (YAML)")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


def execute(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_cloud_config(args.config)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_collector(config, stop)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return 0
