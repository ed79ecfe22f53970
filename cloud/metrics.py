"""The collector's counters and gauges, served in Prometheus' text format on a local port.

A few dozen series do not justify a client library: values live in a dict, `render()`
writes the exposition format, `serve_metrics` answers `GET /metrics` with asyncio streams.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

Labels = tuple[tuple[str, str], ...]

METRICS: dict[str, tuple[str, str]] = {
    "batchmeter_collector_messages_total": ("counter", "Messages received, by topic kind and outcome."),
    "batchmeter_collector_readings_total": ("counter", "Readings stored in InfluxDB."),
    "batchmeter_collector_events_total": ("counter", "Events stored in InfluxDB."),
    "batchmeter_collector_points_total": ("counter", "Points InfluxDB accepted."),
    "batchmeter_collector_rejected_total": ("counter", "Messages or lines dead-lettered, by reason."),
    "batchmeter_collector_write_seconds_sum": ("counter", "Time spent in successful batch writes."),
    "batchmeter_collector_write_seconds_count": ("counter", "Successful batch writes."),
    "batchmeter_collector_write_errors_total": ("counter", "Failed writes, by HTTP status (0: no answer)."),
    "batchmeter_collector_store_alarm": ("gauge", "1 while InfluxDB refuses us (401/403/404)."),
    "batchmeter_collector_acks_total": ("counter", "Ack messages published to gateways."),
    "batchmeter_collector_acked_seqs_total": ("counter", "Message seqs acknowledged."),
    "batchmeter_collector_ack_lag_seconds": ("gauge", "Receipt to ack, oldest message of last flush."),
    "batchmeter_collector_queue_depth": ("gauge", "Points waiting to be written."),
    "batchmeter_collector_inbound_depth": ("gauge", "Messages received but not yet parsed."),
    "batchmeter_collector_stale_marks_total": ("counter", "block_stale marks written with late readings."),
}


def _labels(labels: dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


class Metrics:
    def __init__(self) -> None:
        self._values: dict[str, dict[Labels, float]] = defaultdict(dict)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        series = self._values[name]
        key = _labels(labels)
        series[key] = series.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        self._values[name][_labels(labels)] = value

    def value(self, name: str, **labels: str) -> float:
        return self._values.get(name, {}).get(_labels(labels), 0.0)

    def total(self, name: str) -> float:
        """Sum over every label set of `name`."""
        return sum(self._values.get(name, {}).values())

    def render(self) -> str:
        out: list[str] = []
        for name, (kind, help_text) in METRICS.items():
            out.append(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")
            for labels, value in sorted(self._values.get(name, {}).items()):
                text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                out.append(f"{name}{{{text}}} {value!r}\n" if text else f"{name} {value!r}\n")
        return "".join(out)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


async def serve_metrics(metrics: Metrics, host: str, port: int) -> asyncio.Server:
    """Answer every HTTP request on host:port with the current metrics (port 0: any free port)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            body = metrics.render().encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass  # a scraper that went away or spoke no HTTP; nothing to answer
        finally:
            writer.close()

    return await asyncio.start_server(answer, host, port)
