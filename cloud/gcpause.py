"""Bulk object creation without the cyclic garbage collector running in the middle of it.

Decoding a batch's readings makes tens of thousands of small lists and tuples in one go.
Each few hundred of them start a young-generation collection, and every so often a full
one that walks the whole process heap (in a serving process: pydantic models, caches,
the collector's buffers). Measured on the bench's one-batch recompute (62k readings,
1.6 MB of JSON) in a heap of 300k live objects: decoding and conversion took 70-340 ms
with the collector running, 88-92 ms with it paused. Nothing made here forms a cycle, so
pausing loses nothing; the collector resumes, with its counts, when the block ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic collection inside the block (synchronous code only: no await inside)."""
    if not gc.isenabled():  # nested, or the caller already paused it
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
