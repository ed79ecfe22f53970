"""`python -m bench [--quick] [--only NAME ...]`: run the benchmarks, print a table, write results.json.

A stage that fails (a part missing, a server that would not start) is reported as a row
saying so and the run goes on: one broken stage never hides the others' numbers.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from bench import machine, stages
from bench.options import FULL, QUICK, Options
from bench.results import Entry, markdown, table, write_json
from bench.services import workdir

RESULTS = Path(__file__).resolve().parent / "results.json"

Stage = Callable[[Options, Path], list[Entry]]


def _run_stage(name: str, stage: Stage, options: Options) -> list[Entry]:
    began = time.monotonic()
    print(f"== {name} ...", file=sys.stderr, flush=True)
    try:
        with workdir(name) as root:
            entries = stage(options, root)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        entries = [Entry(f"{name}: not measured", float("nan"), "", note=f"failed: {exc}"[:160])]
    entries = [replace(entry, stage=name) for entry in entries]
    print(f"== {name} done in {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
    for entry in entries:
        print(f"   {entry.name}: {entry.value:.4g} {entry.unit}", file=sys.stderr, flush=True)
    return entries


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~1-minute smoke run, small windows and data")
    parser.add_argument("--only", nargs="+", choices=sorted(stages.ALL), help="run only these stages")
    parser.add_argument("--window", type=float, help="seconds of each CPU / latency window")
    parser.add_argument("--report-days", type=float, help="days of 1 Hz readings for the reports stage")
    parser.add_argument("--report-span-days", type=float, help="days the reports stage's batches span")
    parser.add_argument("--capacity-steps", type=int, nargs="+", metavar="N",
                        help="device counts the capacity stage climbs through")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    options = QUICK if args.quick else FULL
    if args.window:
        options = replace(options, window_s=args.window)
    if args.report_days:
        options = replace(options, report_days=args.report_days)
    if args.report_span_days:
        options = replace(options, report_span_days=args.report_span_days)
    if args.capacity_steps:
        options = replace(options, capacity_steps=tuple(sorted(args.capacity_steps)))
    entries: list[Entry] = []
    for name, stage in stages.ALL.items():
        if args.only and name not in args.only:
            continue
        entries += _run_stage(name, stage, options)
    print(table(entries))
    if args.markdown:
        print("\n" + markdown(entries))
    # a partial run updates its own stages' rows and keeps the others'
    write_json(entries, args.out, list(stages.ALL) if args.only else None)
    print(f"\n{'quick' if options.quick else 'full'} run on {machine.describe()}; written {args.out}")
    return 1 if any(e.note.startswith("failed") for e in entries) else 0


if __name__ == "__main__":
    sys.exit(main())
