"""The attribution engine: pure functions from readings and events to per-batch results.

No I/O, no clock reads, no globals: time and data are passed in (see docs/attribution.md).
"""

ALGORITHM_VERSION = "attribution-1.0"
