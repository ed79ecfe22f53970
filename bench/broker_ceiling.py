"""The broker's ceiling: plain paho publish -> Mosquitto -> paho subscribe, QoS 1 both ways.

Payloads are real readings messages (one gateway poll cycle each), so the rate in readings/s
compares directly with the collector's. The publisher is its own process, as an agent is.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.payloads import device_ids, readings_payload

TOPIC = "batchmeter/v1/bench/g0/readings"


def _client(client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    return client


def publish(host: str, port: int, messages: int, per_message: int) -> None:
    devices = device_ids(per_message)
    payloads = [readings_payload("g0", seq, devices, 1_700_000_000_000 + seq * 1000) for seq in range(1, 101)]
    client = _client("bench-publisher")
    client.connect(host, port)
    client.loop_start()
    info = None
    for index in range(messages):
        info = client.publish(TOPIC, payloads[index % len(payloads)], qos=1)
    if info is not None:
        info.wait_for_publish(timeout=300)
    client.loop_stop()
    client.disconnect()


class _Counter:
    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.done = threading.Event()

    def on_message(self, _client: mqtt.Client, _userdata: object, _message: mqtt.MQTTMessage) -> None:
        now = time.perf_counter()
        if self.count == 0:
            self.first = now
        self.count += 1
        self.last = now
        if self.count >= self.expected:
            self.done.set()


def ceiling(host: str, port: int, messages: int, per_message: int = 50) -> float:
    """Readings per second through the broker (messages/s x readings per message)."""
    counter = _Counter(messages)
    subscribed = threading.Event()
    client = _client("bench-subscriber")
    client.on_message = counter.on_message
    client.on_subscribe = lambda *_args: subscribed.set()
    client.connect(host, port)
    client.loop_start()
    try:
        client.subscribe(TOPIC, qos=1)
        if not subscribed.wait(10):
            raise RuntimeError("broker did not confirm the subscription")
        argv = [sys.executable, "-m", "bench.broker_ceiling", host, str(port), str(messages),
                str(per_message)]
        with subprocess.Popen(argv) as publisher:
            counter.done.wait(300)
            publisher.wait(60)
    finally:
        client.loop_stop()
        client.disconnect()
    if counter.count < 2:
        raise RuntimeError(f"subscriber got {counter.count} of {messages} messages")
    return (counter.count - 1) * per_message / (counter.last - counter.first)


def main() -> None:
    parser = argparse.ArgumentParser(description="publisher half of the broker ceiling")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("messages", type=int)
    parser.add_argument("per_message", type=int)
    args = parser.parse_args()
    publish(args.host, args.port, args.messages, args.per_message)


if __name__ == "__main__":
    main()
