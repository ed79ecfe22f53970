"""Ground truth: per batch, the exact energy, shared energy, scrap and faults the plant produced.

Pure: built from the plant model for the batches finished by `until_s`. Energies are the
exact integrals of the simulated power between the batch's transition instants, so a fault-
free meter's counter delta over a batch equals the ledger to the register's resolution.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from config.simplant import Role
from simulators.plant import Plant
from simulators.schedule import BatchRun

DIVERTED = frozenset({"recycling", "reuse", "energy_recovery"})
"""UL 2799 counts reuse, recycling and energy recovery as diverted from landfill."""

EpochMs = Callable[[float], int]


def _shared_kwh(plant: Plant, run: BatchRun, runs: list[BatchRun]) -> float:
    """Shared meters' energy during the batch, split equally among the batches running."""
    cuts = sorted({run.start_s, run.end_s} | {
        t for r in runs for t in (r.start_s, r.end_s) if run.start_s < t < run.end_s
    })
    shared = [plant.loads[d.id] for d in plant.spec.devices if d.role is Role.METER and d.shared]
    total = 0.0
    for a, b in itertools.pairwise(cuts):
        running = sum(1 for r in runs if r.start_s <= a and b <= r.end_s)
        total += sum(load.energy_between_kwh(a, b) for load in shared) / running
    return total


def _scrap(plant: Plant, run: BatchRun) -> tuple[dict[str, float], dict[str, float]]:
    by_category: dict[str, float] = {}
    by_destination: dict[str, float] = {}
    for tickets in plant.schedule.tickets.values():
        for tk in tickets:
            if tk.batch_id == run.batch_id:
                by_category[tk.category] = round(by_category.get(tk.category, 0.0) + tk.mass_kg, 2)
                by_destination[tk.destination] = round(
                    by_destination.get(tk.destination, 0.0) + tk.mass_kg, 2)
    return by_category, by_destination


def batch_entry(plant: Plant, run: BatchRun, runs: list[BatchRun], epoch_ms: EpochMs) -> dict[str, Any]:
    meters = [d.id for d in plant.spec.devices if d.role is Role.METER and d.line == run.line]
    by_meter = {m: plant.loads[m].energy_between_kwh(run.start_s, run.end_s) for m in meters}
    scrap, by_destination = _scrap(plant, run)
    total_scrap = sum(scrap.values())
    diverted = sum(kg for dest, kg in by_destination.items() if dest in DIVERTED)
    product = plant.spec.products[run.product]
    relevant = set(meters) | {d.id for d in plant.spec.devices
                              if d.shared or d.line == run.line or run.line in d.lines}
    return {
        "batch_id": run.batch_id, "line": run.line, "product": run.product,
        "start_ms": epoch_ms(run.start_s), "end_ms": epoch_ms(run.end_s),
        "sim_start_s": run.start_s, "sim_run_s": run.run_s, "sim_end_s": run.end_s,
        "energy_kwh": sum(by_meter.values()), "energy_by_meter_kwh": by_meter,
        "shared_energy_kwh": _shared_kwh(plant, run, runs),
        "scrap_kg": scrap, "scrap_by_destination_kg": by_destination,
        "diversion_rate": diverted / total_scrap if total_scrap else None,
        "good_units": run.good_units(run.end_s), "reject_units": run.reject_units(run.end_s),
        "cell_kwh": run.good_units(run.end_s) * product.cell_kwh,
        "faults": [
            {"ts_ms": epoch_ms(f.at_s), "device": f.device, "fault": f.fault, "detail": f.detail}
            for f in plant.fault_log()
            if f.device in relevant and run.start_s <= f.at_s <= run.end_s
        ],
    }


def build_ledger(plant: Plant, until_s: float, epoch_ms: EpochMs) -> list[dict[str, Any]]:
    """The batches finished by `until_s`, in order of start."""
    runs = plant.schedule.all_runs()
    return [batch_entry(plant, r, runs, epoch_ms) for r in runs if r.end_s <= until_s]


def build_run_summary(
    plant: Plant, until_s: float, epoch_ms: EpochMs, served: dict[str, int] | None = None
) -> dict[str, Any]:
    """What the batch list cannot hold: the whole fault log, meter totals, every ticket."""
    meters = {m: load.energy_kwh(until_s) for m, load in plant.loads.items()}
    return {
        "site": plant.spec.site, "seed": plant.spec.seed, "speed": plant.spec.speed,
        "until_ms": epoch_ms(until_s), "until_s": until_s,
        "energy_by_meter_kwh": meters,
        "faults": [
            {"ts_ms": epoch_ms(f.at_s), "device": f.device, "fault": f.fault, "detail": f.detail,
             "reads_affected": (served or {}).get(f"{f.device}@{f.at_s}", 0)}
            for f in plant.fault_log(until_s)
        ],
        "tickets": [
            {"ts_ms": epoch_ms(tk.at_s), "station": tk.station, "weighing_seq": tk.seq,
             "mass_kg": tk.mass_kg, "category": tk.category, "destination": tk.destination,
             "line": tk.line, "batch_id": tk.batch_id}
            for tks in plant.schedule.tickets.values() for tk in tks if tk.at_s <= until_s
        ],
    }


def write_json(path: Path, data: Any) -> None:
    """Write atomically, so a reader never sees half a ledger."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    tmp.replace(path)


def run_summary_path(ledger: Path) -> Path:
    return ledger.with_name(ledger.stem + ".run.json")
