"""InfluxDB's own ceiling: raw line protocol, one reading per point, posted in large batches.

Bodies are prepared before the clock starts, so the number is InfluxDB's, not the client's.
Two writers post at once, because InfluxDB parses and indexes a request on one core.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from bench.payloads import device_ids, line_prefixes

BATCH_POINTS = 5000
WRITERS = 2


def _bodies(devices: int, batches: int, start_ms: int) -> list[bytes]:
    """`batches` bodies of BATCH_POINTS points: whole poll cycles of `devices` meters, 1 s apart."""
    prefixes = line_prefixes(device_ids(devices))
    bodies = []
    second = 0
    for _ in range(batches):
        lines: list[str] = []
        while len(lines) < BATCH_POINTS:
            ts = str(start_ms + second * 1000)
            lines.extend(prefix + ts for prefix in prefixes)
            second += 1
        # a cut cycle's rest is dropped, never reused: every point stays a new one
        bodies.append("\n".join(lines[:BATCH_POINTS]).encode())
    return bodies


async def _post_all(url: str, database: str, bodies: list[bytes]) -> None:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    params = {"db": database, "precision": "ms"}

    async def writer(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            response = await client.post("/write", params=params, content=body)
            if response.status_code != 204:
                raise RuntimeError(f"InfluxDB refused a batch: {response.status_code} {response.text[:200]}")

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        await asyncio.gather(*(writer(client) for _ in range(WRITERS)))


def ceiling(url: str, database: str, points: int, devices: int = 200, start_ms: int | None = None) -> float:
    """Points (readings) per second InfluxDB accepts, writing about `points` points."""
    start_ms = start_ms if start_ms is not None else (int(time.time()) - 86_400) * 1000
    bodies = _bodies(devices, max(points // BATCH_POINTS, WRITERS * 2), start_ms)
    began = time.perf_counter()
    asyncio.run(_post_all(url, database, bodies))
    return len(bodies) * BATCH_POINTS / (time.perf_counter() - began)
