"""Parse the API's and dashboard's query parameters into typed values (pure).

Bad input gets a clear message naming the parameter; the API turns it into a 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import get_args

from cloud.attribution.model import AggregateKey
from cloud.web.source import BatchFilter

DAY_MS = 86_400_000


class QueryError(ValueError):
    """A query parameter could not be read; the message names it."""


def parse_time(name: str, text: str) -> int:
    """Epoch ms from `1732838400000`, `2026-11-29` (UTC midnight) or an ISO 8601 date-time."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(f"{name}: expected epoch ms, YYYY-MM-DD or ISO 8601, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def parse_bool(name: str, text: str) -> bool | None:
    lowered = text.strip().lower()
    if lowered in ("", "any", "all"):
        return None
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise QueryError(f"{name}: expected true or false, got {text!r}")


def batch_filter(params: Mapping[str, str], *, to_day_inclusive: bool = False) -> BatchFilter:
    """`line`, `product`, `from`, `to` (batch start in [from, to)), `alarms`.

    With `to_day_inclusive` a bare date in `to` means through the end of that day, as a person
    picking "from 1 Nov to 1 Nov" in the dashboard means.
    """
    start, end = params.get("from", ""), params.get("to", "")
    to_ms = parse_time("to", end) if end else None
    if to_ms is not None and to_day_inclusive and len(end.strip()) == 10:
        to_ms += DAY_MS
    query = BatchFilter(
        line=params.get("line") or None,
        product=params.get("product") or None,
        from_ms=parse_time("from", start) if start else None,
        to_ms=to_ms,
        alarms=parse_bool("alarms", params.get("alarms", "")),
    )
    if query.from_ms is not None and query.to_ms is not None and query.to_ms <= query.from_ms:
        raise QueryError("to: must be later than from")
    return query


def aggregate_key(params: Mapping[str, str]) -> AggregateKey:
    by = params.get("by", "product")
    for key in get_args(AggregateKey):
        if by == key:
            return key  # type: ignore[no-any-return]
    raise QueryError(f"by: expected one of {', '.join(get_args(AggregateKey))}, got {by!r}")


def month_bounds(month: str) -> tuple[int, int]:
    """[start, end) epoch ms of a UTC month given as YYYY-MM."""
    try:
        first = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise QueryError(f"month: expected YYYY-MM, got {month!r}") from None
    following = first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
    return int(first.timestamp() * 1000), int(following.timestamp() * 1000)
