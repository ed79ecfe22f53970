"""Load for the collector: unique readings messages from several gateways, published flat out.

Payloads are built before connecting (the agent's JSON shape, one poll cycle of 50 devices
each), so the publisher's own cost does not throttle the stage. Prints `START <epoch s>`
just before the first publish and `DONE <epoch s>` when the broker has taken them all.
Run: `python -m bench.publisher --port P --messages N [--gateways 4] [--devices 50]`.
"""

from __future__ import annotations

import argparse
import json
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.payloads import values_at
from config.wire import TopicKind, topic

SITE = "bench"


def payload(gateway: str, seq: int, devices: int, ts_ms: int) -> bytes:
    readings = [{"device": f"{gateway}-m{i:03d}", "ts_ms": ts_ms, "values": values_at(i, ts_ms // 1000)}
                for i in range(devices)]
    message = {"v": 1, "site": SITE, "gateway": gateway, "seq": seq, "readings": readings}
    return json.dumps(message, separators=(",", ":")).encode()


def messages(count: int, gateways: int, devices: int, start_ms: int) -> list[tuple[str, bytes]]:
    """Round-robin over gateways; each gateway's seq counts from 1, one cycle per second."""
    out = []
    for index in range(count):
        gateway, cycle = f"g{index % gateways}", index // gateways
        out.append((topic(SITE, gateway, TopicKind.READINGS),
                    payload(gateway, cycle + 1, devices, start_ms + cycle * 1000)))
    return out


def publish(port: int, batch: list[tuple[str, bytes]]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-load", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    print(f"START {time.time():.6f}", flush=True)
    infos = [client.publish(name, body, qos=1) for name, body in batch]
    for info in infos:
        info.wait_for_publish(timeout=600)
    print(f"DONE {time.time():.6f}", flush=True)
    client.loop_stop()
    client.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--gateways", type=int, default=4)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--start-ms", type=int, default=int(time.time() - 86_400) * 1000)
    args = parser.parse_args()
    batch = messages(args.messages, args.gateways, args.devices, args.start_ms)
    print("READY", flush=True)
    publish(args.port, batch)


if __name__ == "__main__":
    main()
