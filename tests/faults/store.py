"""Read back what InfluxDB holds, as the checker's stored points and seqs."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.faults.checker import StoredPoint

_TAGS = ("site", "gateway", "device", "topic")


def _series(url: str, database: str, influxql: str) -> list[dict[str, Any]]:
    """All series of one statement, read in chunks so no row limit truncates them."""
    params = {"db": database, "q": influxql, "epoch": "ms", "chunked": "true", "chunk_size": "20000"}
    out: list[dict[str, Any]] = []
    with httpx.stream("GET", f"{url}/query", params=params, timeout=60) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.strip():
                continue
            for result in json.loads(line).get("results", []):
                if "error" in result:
                    raise RuntimeError(f"InfluxQL error: {result['error']}")
                out.extend(result.get("series", []))
    return out


def _rows(series: dict[str, Any]) -> list[dict[str, Any]]:
    tags = series.get("tags") or {}
    return [{**tags, **dict(zip(series["columns"], row, strict=True))} for row in series["values"]]


def stored_readings(url: str, database: str) -> list[StoredPoint]:
    points = []
    for series in _series(url, database, 'SELECT * FROM "reading" GROUP BY "gateway", "device"'):
        for row in _rows(series):
            fields = {k: v for k, v in row.items() if k not in _TAGS and k != "time" and v is not None}
            points.append(StoredPoint(row["gateway"], row["device"], int(row["time"]), fields))
    return points


def stored_seqs(url: str, database: str, topic: str | None = "readings") -> set[tuple[str, int]]:
    """(gateway, seq) of the `message` points of `topic` (None: readings and events)."""
    where = f" WHERE \"topic\" = '{topic}'" if topic else ""
    seqs: set[tuple[str, int]] = set()
    for series in _series(url, database, f'SELECT "seq" FROM "message"{where} GROUP BY "gateway"'):
        for row in _rows(series):
            seqs.add((row["gateway"], int(row["seq"])))
    return seqs


def dead_letters(url: str, database: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for series in _series(url, database, 'SELECT * FROM "dead_letter" GROUP BY "reason"'):
        rows.extend(_rows(series))
    return rows
