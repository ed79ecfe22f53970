"""`python -m tests.harness`: run a simulated plant end to end and print report vs ground truth.

What scripts/demo runs. With `--once` it exits after the report (0 when every batch is in the
report); otherwise everything keeps running until Ctrl-C (or SIGTERM), then all of it stops.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from tests.harness.compare import compare, format_table
from tests.harness.world import Options, PlantRun, plant_run

DEMO_PLANT = Path(__file__).resolve().parents[2] / "config" / "examples" / "demo-plant.yaml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__.splitlines()[0])
    parser.add_argument("--plant", type=Path, default=DEMO_PLANT, help="simulated plant file")
    parser.add_argument("--speed", type=float, help="simulated seconds per real second (default: the file's)")
    parser.add_argument("--poll", type=float, default=0.1, help="agent poll interval, real seconds")
    parser.add_argument("--once", action="store_true", help="exit after the report")
    parser.add_argument("--out", type=Path, help="write report.json and ledger.json here")
    parser.add_argument("--workdir", type=Path, help="keep configs, logs and data here (default: a temp dir)")
    return parser


def _sigterm_as_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _report(run: PlantRun, out: Path | None) -> bool:
    run.wait_done()
    report, ledger = run.report(), run.ledger()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
        (out / "ledger.json").write_text(json.dumps(ledger, indent=1) + "\n")
    rows = compare(report, ledger)
    print(format_table(rows), flush=True)
    worst = max((abs(r.error) for r in rows if r.error is not None), default=0.0)
    print(f"\n{len(rows)} batches; worst |error| {worst * 100:.3f} % (tolerance 0.5 %)", flush=True)
    return all(r.attributed_kwh is not None for r in rows)


def _keep_running(run: PlantRun) -> None:
    try:
        url = run.serve()
        print(f"dashboard: {url}", flush=True)
    except (RuntimeError, TimeoutError) as exc:
        print(f"dashboard not available: {str(exc).splitlines()[0]}", file=sys.stderr, flush=True)
    print("running; Ctrl-C stops everything", flush=True)
    threading.Event().wait()  # until Ctrl-C or SIGTERM raises KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    # Also when started in the background by a shell, which hands its children SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with tempfile.TemporaryDirectory(prefix="batchmeter-demo-") as tmp:
        workdir = (args.workdir or Path(tmp)).resolve()
        if args.workdir:
            print(f"configs, logs and data: {workdir}", file=sys.stderr)
        options = Options(plant_file=args.plant.resolve(), workdir=workdir, speed=args.speed,
                          poll_interval_s=args.poll)
        try:
            with plant_run(options) as run:
                complete = _report(run, args.out)
                if args.once:
                    return 0 if complete else 1
                _keep_running(run)
        except KeyboardInterrupt:
            print("\nstopped", file=sys.stderr)
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
