"""CPU time and resident memory of a process, from /proc (Linux), without extra packages."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` so far (its reaped children excluded)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # the command name may contain spaces and parentheses: fields start after the last ')'
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_bytes(pid: int) -> int:
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * _PAGE


def tree_pids(pid: int) -> list[int]:
    """`pid` and its live descendants, so a console-script wrapper's child is counted too."""
    found = [pid]
    index = 0
    while index < len(found):
        children = Path(f"/proc/{found[index]}/task/{found[index]}/children")
        with contextlib.suppress(OSError):
            found.extend(int(c) for c in children.read_text().split())
        index += 1
    return found


@dataclass(frozen=True)
class Sample:
    cpu_s: float
    rss_bytes: int


def sample(pid: int) -> Sample:
    """CPU and RSS summed over `pid`'s process tree."""
    cpu, rss = 0.0, 0
    for each in tree_pids(pid):
        try:
            cpu += cpu_seconds(each)
            rss += rss_bytes(each)
        except OSError:
            continue
    return Sample(cpu, rss)


@dataclass(frozen=True)
class Window:
    seconds: float
    cpu_s: float
    max_rss_bytes: int


def measure(pid: int, seconds: float, every: float = 0.5) -> Window:
    """CPU used by `pid`'s tree over the next `seconds` of wall time, and its peak RSS."""
    start = sample(pid)
    began = time.monotonic()
    peak = start.rss_bytes
    while (left := seconds - (time.monotonic() - began)) > 0:
        time.sleep(min(every, left))  # sampling interval, not synchronisation
        peak = max(peak, sample(pid).rss_bytes)
    end = sample(pid)
    return Window(time.monotonic() - began, end.cpu_s - start.cpu_s, max(peak, end.rss_bytes))


def machine_busy_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / _TICKS, sum(fields) / _TICKS
