"""`batchmeter-sim run --plant FILE [--speed X] [--ledger PATH] [--port-base N] [--until-done]`.

The composition root: loads the plant file, maps the wall clock onto simulated time, serves
every device, prints `{"endpoints": ...}` and then `READY`, and writes the ledger at the end
of the schedule and on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

from config.loader import ConfigError
from config.simplant import SimPlant, load_plant
from simulators.ledger import build_ledger, build_run_summary, run_summary_path, write_json
from simulators.plant import Plant
from simulators.server import PlantServer


class WallClock:
    """Simulated seconds = real seconds since start x speed; epoch ms of a simulated instant."""

    def __init__(self, speed: float, origin_ms: int | None = None) -> None:
        self.speed = speed
        self._t0 = time.monotonic()
        self.origin_ms = origin_ms if origin_ms is not None else int(time.time() * 1000)

    def now_s(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    def epoch_ms(self, sim_s: float) -> int:
        return self.origin_ms + round(sim_s * 1000 / self.speed)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="batchmeter-sim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve the simulated plant over Modbus")
    run.add_argument("--plant", required=True, type=Path, help="plant file (YAML)")
    run.add_argument("--speed", type=float, help="simulated seconds per real second (overrides the file)")
    run.add_argument("--ledger", type=Path, help="write the ground-truth ledger (JSON) here")
    run.add_argument("--port-base", type=int, help="give port-0 devices consecutive ports from N")
    run.add_argument("--until-done", action="store_true", help="exit once the schedule is done")
    run.add_argument("--rtu-dir", type=Path, help="put every RTU bus link in this directory instead")
    return parser


def _write(plant: Plant, clock: WallClock, server: PlantServer, ledger: Path | None, until: float) -> None:
    if ledger is None:
        return
    until = min(until, float(plant.horizon_s))
    write_json(ledger, build_ledger(plant, until, clock.epoch_ms))
    write_json(run_summary_path(ledger),
               build_run_summary(plant, until, clock.epoch_ms, dict(server.tally.reads)))


def _rtu_links(spec: SimPlant, args: argparse.Namespace) -> dict[str, Path]:
    """Bus links: relative paths are beside the plant file; --rtu-dir moves them all."""
    links = {}
    for bus in spec.rtu_buses:
        link = Path(bus.link)
        if args.rtu_dir is not None:
            link = args.rtu_dir / link.name
        elif not link.is_absolute():
            link = args.plant.parent / link
        links[bus.id] = link
    return links


async def _serve(spec: SimPlant, args: argparse.Namespace) -> int:
    plant = Plant(spec)
    origin = int(datetime.fromisoformat(spec.start).timestamp() * 1000) if spec.start else None
    clock = WallClock(spec.speed, origin)
    server = PlantServer(plant, clock.now_s, args.port_base, _rtu_links(spec, args))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
        print(json.dumps({"endpoints": server.endpoints_json()}), flush=True)
        print("READY", flush=True)
        remaining = (plant.horizon_s - clock.now_s()) / spec.speed
        try:
            await asyncio.wait_for(stop.wait(), timeout=max(0.0, remaining))
        except TimeoutError:
            _write(plant, clock, server, args.ledger, clock.now_s())
            print(json.dumps({"schedule_done": True, "ledger": str(args.ledger)}), flush=True)
            if not args.until_done:
                await stop.wait()
        _write(plant, clock, server, args.ledger, clock.now_s())
    finally:
        await server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        spec = load_plant(args.plant)
        plant_check = Plant(spec)  # fault and label checks, before any port is opened
        del plant_check
    except (ConfigError, ValueError) as exc:
        print(f"batchmeter-sim: {exc}", file=sys.stderr)
        return 2
    if args.speed is not None:
        spec = spec.model_copy(update={"speed": args.speed})
    try:
        return asyncio.run(_serve(spec, args))
    except OSError as exc:
        print(f"batchmeter-sim: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
