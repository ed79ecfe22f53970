"""InfluxQL text shared by the modules that query InfluxDB: quoting and the clauses they repeat."""

from __future__ import annotations

from collections.abc import Iterable


def quote(text: str) -> str:
    """A string literal (tag values in WHERE)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def devices(ids: Iterable[str]) -> str:
    """`("device" = 'a' OR ...)`: InfluxDB 1.x reads an OR of tag values as one index lookup each."""
    return "(" + " OR ".join(f'"device" = {quote(i)}' for i in ids) + ")"


def between(from_ms: int, to_ms: int) -> str:
    """Both ends included, as the time range of a Window."""
    return f"time >= {max(0, from_ms)}ms AND time <= {to_ms}ms"
