"""Wire payloads (pure): one readings message per poll cycle, built without per-value models.

The JSON is assembled from plain dicts in the exact shape of `config.wire.ReadingsMessage`
(tests validate it against the model); events are rare and go through their models.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from agent.batches import WireEvent
from agent.poller import Polled
from config.wire import EventsMessage

_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode


def reading_dict(polled: Polled) -> dict[str, object]:
    if polled.error is not None:
        error = polled.error[:200]
        return {"device": polled.device, "ts_ms": polled.ts_ms, "quality": "error", "error": error}
    if polled.stale:
        return {"device": polled.device, "ts_ms": polled.ts_ms, "values": polled.values, "quality": "stale"}
    return {"device": polled.device, "ts_ms": polled.ts_ms, "values": polled.values}


def readings_payload(site: str, gateway: str, seq: int, polled: Sequence[Polled]) -> bytes:
    message = {"v": 1, "site": site, "gateway": gateway, "seq": seq,
               "readings": [reading_dict(p) for p in polled]}
    return _dumps(message).encode()


def events_payload(site: str, gateway: str, seq: int, events: Sequence[WireEvent]) -> bytes:
    return EventsMessage(site=site, gateway=gateway, seq=seq, events=list(events)).model_dump_json().encode()
