"""A wire tap: an extra, non-shared subscriber that records every readings message on the broker.

With a real agent the readings it built are not kept anywhere once acknowledged, so the tap's
record of what crossed the broker (first sends and re-sends alike) is the checker's "sent".
It misses only what never reached the broker, and those messages are exactly what the seq
gap check finds.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Self

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from config.wire import ReadingsMessage, TopicKind, subscription


class WireTap:
    def __init__(self, host: str, port: int, username: str | None = None, password: str | None = None,
                 ca_file: str | None = None) -> None:
        self.record: list[ReadingsMessage] = []
        self.unreadable = 0
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id="wire-tap", protocol=paho.MQTTv5)
        if username:
            self._client.username_pw_set(username, password)
        if ca_file:
            self._client.tls_set(ca_certs=ca_file)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self.subscribed_ms = 0
        self._client.on_message = self._on_message
        self._address = (host, port)

    def start(self) -> Self:
        self._client.connect_async(*self._address, keepalive=10)
        self._client.loop_start()
        return self

    @property
    def subscribed(self) -> bool:
        return self._subscribed.is_set()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def messages(self) -> list[ReadingsMessage]:
        with self._lock:
            return list(self.record)

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            client.subscribe(subscription(TopicKind.READINGS), qos=1)

    def _on_subscribe(self, *args: object) -> None:
        if not self._subscribed.is_set():
            self.subscribed_ms = int(time.time() * 1000)
        self._subscribed.set()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            parsed = ReadingsMessage.model_validate_json(message.payload)
        except ValueError:
            self.unreadable += 1
            return
        with self._lock:
            self.record.append(parsed)
