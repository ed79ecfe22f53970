"""Read back what InfluxDB holds, as the checker's stored points and seqs."""

from __future__ import annotations

from typing import Any

import httpx

from tests.faults.checker import StoredPoint

_TAGS = ("site", "gateway", "device", "topic")


def _series(url: str, database: str, influxql: str) -> list[dict[str, Any]]:
    """All series of one statement, unchunked (callers page through big results themselves)."""
    params = {"db": database, "q": influxql, "epoch": "ms"}
    response = httpx.get(f"{url}/query", params=params, timeout=60)
    response.raise_for_status()
    out: list[dict[str, Any]] = []
    for result in response.json().get("results", []):
        if "error" in result:
            raise RuntimeError(f"InfluxQL error: {result['error']}")
        out.extend(result.get("series", []))
    return out


def _rows(series: dict[str, Any]) -> list[dict[str, Any]]:
    tags = series.get("tags") or {}
    return [{**tags, **dict(zip(series["columns"], row, strict=True))} for row in series["values"]]


def stored_readings(url: str, database: str, page: int = 5000) -> list[StoredPoint]:
    """Every `reading` point, paged by time per series.

    Not InfluxDB's chunked mode: read that way (chunk_size 20000, GROUP BY gateway, device) some
    points went missing from the result while a plain query for them found them stored.
    """
    points = []
    for gateway, device in _reading_series(url, database):
        after = -1
        while True:
            where = f"\"gateway\" = '{gateway}' AND \"device\" = '{device}' AND time > {after}ms"
            rows = [row for series in _series(url, database, f'SELECT * FROM "reading" WHERE {where} '
                                              f"ORDER BY time LIMIT {page}") for row in _rows(series)]
            for row in rows:
                fields = {k: v for k, v in row.items() if k not in _TAGS and k != "time" and v is not None}
                points.append(StoredPoint(gateway, device, int(row["time"]), fields))
            if len(rows) < page:
                break
            after = int(rows[-1]["time"])
    return points


def _reading_series(url: str, database: str) -> set[tuple[str, str]]:
    found = set()
    for series in _series(url, database, 'SHOW SERIES FROM "reading"'):
        for (key,) in series["values"]:
            tags = dict(part.split("=", 1) for part in key.split(",")[1:])
            found.add((tags["gateway"], tags["device"]))
    return found


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
