"""Wire payloads (pure): one readings message per poll cycle, built without per-value models.

The JSON has the exact shape of `config.wire.ReadingsMessage` (tests validate it against
the model); readings are filled into cached templates (see ReadingsPayloads); events are
rare and go through their models.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from agent.batches import WireEvent
from agent.poller import Polled
from config.wire import EventsMessage

_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode
_CACHE_LIMIT = 10_000


def reading_dict(polled: Polled) -> dict[str, object]:
    if polled.error is not None:
        error = polled.error[:200]
        return {"device": polled.device, "ts_ms": polled.ts_ms, "quality": "error", "error": error}
    if polled.stale:
        return {"device": polled.device, "ts_ms": polled.ts_ms, "values": polled.values, "quality": "stale"}
    return {"device": polled.device, "ts_ms": polled.ts_ms, "values": polled.values}


class ReadingsPayloads:
    """Readings messages as JSON, a good reading formatted by one `%` on a cached template.

    A device's good readings have the same keys every cycle, so the JSON around the numbers
    is made once per (device, quantity names) by the JSON encoder itself and only the
    numbers are filled in (`%r`: float repr, which is what the encoder writes for a float).
    Values are finite (decode_block never keeps NaN or infinity); a reading with a string
    value, an error or stale data goes through the encoder. Tests hold the output equal to
    `readings_payload_reference`.
    """

    def __init__(self) -> None:
        self._templates: dict[tuple[str, ...], str] = {}

    def payload(self, site: str, gateway: str, seq: int, polled: Sequence[Polled]) -> bytes:
        head = _dumps({"v": 1, "site": site, "gateway": gateway, "seq": seq})[:-1]
        return f'{head},"readings":[{",".join([self._reading(p) for p in polled])}]}}'.encode()

    def _reading(self, polled: Polled) -> str:
        values = polled.values
        if polled.error is not None or polled.stale or not values:
            return _dumps(reading_dict(polled))
        numbers = (polled.ts_ms, *values.values())
        for number in numbers:
            if number.__class__ is not float and number.__class__ is not int:
                return _dumps(reading_dict(polled))
        key = (polled.device, *values)
        template = self._templates.get(key) or self._template(key)
        return template % numbers

    def _template(self, key: tuple[str, ...]) -> str:
        if len(self._templates) >= _CACHE_LIMIT:
            self._templates.clear()
        device, *names = key
        fields = ",".join(_dumps(name).replace("%", "%%") + ":%r" for name in names)
        text = self._templates[key] = (
            '{"device":' + _dumps(device).replace("%", "%%") + ',"ts_ms":%d,"values":{' + fields + "}}"
        )
        return text


def readings_payload_reference(site: str, gateway: str, seq: int, polled: Sequence[Polled]) -> bytes:
    """The readings message through the JSON encoder alone (what `ReadingsPayloads` must equal)."""
    message = {"v": 1, "site": site, "gateway": gateway, "seq": seq,
               "readings": [reading_dict(p) for p in polled]}
    return _dumps(message).encode()


def readings_payload(site: str, gateway: str, seq: int, polled: Sequence[Polled]) -> bytes:
    return ReadingsPayloads().payload(site, gateway, seq, polled)


def events_payload(site: str, gateway: str, seq: int, events: Sequence[WireEvent]) -> bytes:
    return EventsMessage(site=site, gateway=gateway, seq=seq, events=list(events)).model_dump_json().encode()
