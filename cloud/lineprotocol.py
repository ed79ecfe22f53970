"""InfluxDB line protocol, written by hand: pure functions from names and values to text.

Escaping follows what InfluxDB 1.x's parser actually does (checked against 1.6.7):
- measurement: `,` and space are escaped; tag keys, tag values, field keys: `,`, `=` and
  space; string field values: `"` and `\\`.
- In names a backslash is literal unless it precedes an escapable character, and the parser
  reads `\\\\` as a pair, so a name whose backslash is last or precedes `,`, `=` or space has
  no spelling that reads back unchanged; a measurement's `\\"` reads back as `"`, so a
  backslash before `"` is refused in every name too. Such names, names containing a newline
  (a newline ends the line whatever precedes it), measurements starting with `#` (a comment line) and
  the key `time` (refused by the server) are rejected with LineProtocolError instead of
  being stored altered. See docs/schema.md.
- A tag whose value is empty is left out: InfluxDB has no empty tag value.
- Numbers are always floats, never `i`, so a field's type never flips. A float is written
  as its shortest text that reads back as the same double (orjson's, ~3x quicker than
  `repr`, the largest single cost of a reading's line; exponents as `1e-5`, not `1e-05`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import orjson

_UNREPRESENTABLE = re.compile(r'[\n\t]|^ |\\(?:[, ="]|$)')
_MEASUREMENT_ESCAPES = str.maketrans({",": "\\,", " ": "\\ "})
_KEY_ESCAPES = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})

FieldValue = float | int | str | bool


class LineProtocolError(ValueError):
    """A name or value that InfluxDB's line protocol cannot carry unchanged."""


def representable(name: str) -> bool:
    """True when `name` can be a tag key/value or field key that reads back unchanged."""
    return bool(name) and _UNREPRESENTABLE.search(name) is None and name != "time"


def _check(name: str, what: str) -> None:
    if not name:
        raise LineProtocolError(f"{what} is empty")
    if _UNREPRESENTABLE.search(name):
        raise LineProtocolError(
            f"{what} {name!r} cannot be stored unchanged in InfluxDB "
            "(a newline or tab, a leading space, or a backslash at the end or before ',', '=', '\"' or space)"
        )


def measurement(name: str) -> str:
    _check(name, "measurement")
    if name.startswith("#"):
        raise LineProtocolError(f"measurement {name!r} starts with '#', which InfluxDB reads as a comment")
    return name.translate(_MEASUREMENT_ESCAPES)


def key(name: str, what: str = "key") -> str:
    _check(name, what)
    if name == "time":
        raise LineProtocolError(f"{what} 'time' is reserved by InfluxDB")
    return name.translate(_KEY_ESCAPES)


def tag_value(value: str) -> str:
    _check(value, "tag value")
    return value.translate(_KEY_ESCAPES)


def field_value(value: FieldValue) -> str:
    """Format one field value; numbers become floats, strings are quoted."""
    if isinstance(value, str):
        return '"' + value.translate(_STRING_ESCAPES) + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    number = float(value)
    if not math.isfinite(number):
        raise LineProtocolError(f"field value {value!r} is not a finite number")
    return orjson.dumps(number).decode()


def float_texts(numbers: Sequence[float]) -> list[str]:
    """`field_value` of each of many finite floats, in one call: a reading's values at once.

    The caller vouches that they are finite floats (the wire's validation refuses the rest);
    a NaN here would come out as `null`, which InfluxDB refuses as a line of its own.
    """
    return orjson.dumps(numbers).decode()[1:-1].split(",") if numbers else []


def tag_set(tags: Mapping[str, str]) -> str:
    """`,k=v,k=v` for the non-empty tags, sorted by key (InfluxDB's canonical order)."""
    return "".join(
        f",{key(k, 'tag key')}={tag_value(v)}" for k, v in sorted(tags.items()) if v != ""
    )


def field_set(fields: Mapping[str, FieldValue]) -> str:
    if not fields:
        raise LineProtocolError("a point needs at least one field")
    return ",".join(f"{key(k, 'field key')}={field_value(v)}" for k, v in fields.items())


def line(name: str, tags: Mapping[str, str], fields: Mapping[str, FieldValue], timestamp: int) -> str:
    """One point as a line (no trailing newline); `timestamp` in the write's precision."""
    return f"{measurement(name)}{tag_set(tags)} {field_set(fields)} {int(timestamp)}"
