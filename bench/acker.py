"""A stand-in collector for agent-only benchmarks: acknowledges every message at once.

It keeps the agent's outbox draining without InfluxDB, so the agent's own cost is measured
alone, and records each reading's (device, ts_ms) so a run can tell whether every period
was kept. Runs paho's network loop in its own thread; counts are read after `close()`.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import defaultdict

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from config.wire import AckMessage, TopicKind, parse_topic, subscription, topic


class Acker:
    def __init__(self, host: str, port: int) -> None:
        self.readings: dict[str, list[int]] = defaultdict(list)
        self.errors = 0
        self.messages = 0
        self._lock = threading.Lock()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-acker", protocol=mqtt.MQTTv5)
        self._client.on_message = self._on_message
        self._client.on_connect = self._on_connect
        self._client.connect(host, port)
        self._client.loop_start()

    def _on_connect(self, client: mqtt.Client, *_args: object) -> None:
        client.subscribe([(subscription(TopicKind.READINGS), 1), (subscription(TopicKind.EVENTS), 1)])

    def _on_message(self, client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        address = parse_topic(message.topic)
        body = json.loads(message.payload)
        ack = AckMessage(gateway=address.gateway, ranges=[(body["seq"], body["seq"])])
        client.publish(topic(address.site, address.gateway, TopicKind.ACK), ack.model_dump_json(), qos=1)
        with self._lock:
            self.messages += 1
            for reading in body.get("readings", []):
                if reading.get("quality", "ok") == "ok":
                    self.readings[reading["device"]].append(int(reading["ts_ms"]))
                else:
                    self.errors += 1

    def caught_up(self, until_ms: int, interval_ms: int, devices: list[str]) -> bool:
        """Every device has a reading polled within a period of `until_ms`, late or not."""
        with self._lock:
            return all(max(self.readings.get(d) or [0]) >= until_ms - interval_ms for d in devices)

    def missed_periods(self, since_ms: int, until_ms: int, interval_ms: int, devices: list[str]) -> int:
        """Periods of [since, until) without a good reading of a device, summed over devices.

        Counted from gaps between consecutive readings (a gap over 1.5 periods misses
        round(gap / period) - 1), so jitter of a poll inside its period is never a miss.
        """
        with self._lock:
            missed = 0
            for device in devices:
                times = sorted({t for t in self.readings.get(device, []) if since_ms <= t < until_ms})
                edges = [since_ms - interval_ms // 2, *times, until_ms + interval_ms // 2]
                for before, after in itertools.pairwise(edges):
                    if after - before > 1.5 * interval_ms:
                        missed += round((after - before) / interval_ms) - 1
            return missed

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()
