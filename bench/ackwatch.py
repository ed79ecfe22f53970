"""Watches `.../ack` topics: which seqs the collector has stored and acknowledged, and when."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from config.wire import AckMessage, TopicKind, subscription


class AckWatch:
    def __init__(self, host: str, port: int) -> None:
        self.acked: dict[str, set[int]] = {}
        self.last_ack = 0.0
        self.subscribed = threading.Event()
        self._lock = threading.Lock()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-ackwatch",
                                   protocol=mqtt.MQTTv5)
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_args: self.subscribed.set()
        self._client.on_connect = lambda client, *_args: client.subscribe(subscription(TopicKind.ACK), qos=1)
        self._client.connect(host, port)
        self._client.loop_start()
        if not self.subscribed.wait(10):
            raise RuntimeError("ack watcher: broker did not confirm the subscription")

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        ack = AckMessage.model_validate_json(message.payload)
        with self._lock:
            self.acked.setdefault(ack.gateway, set()).update(ack.seqs())
            self.last_ack = time.time()

    def count(self) -> int:
        with self._lock:
            return sum(len(seqs) for seqs in self.acked.values())

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()
