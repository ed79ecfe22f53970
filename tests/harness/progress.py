"""One progress line every few seconds while the harness waits for a run to finish."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # world imports this module; the type is only needed for the checker
    from tests.harness.world import PlantRun


class ProgressWatch:
    """Prints one progress line every few seconds while the harness waits."""

    def __init__(self, run: PlantRun, every_s: float = 3.0) -> None:
        self.run, self.every_s = run, every_s
        self.started = self.last = time.monotonic()

    def tick(self) -> bool:
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            run = self.run
            sim_s = (now - (run.simulator.started_at or now)) * run.speed
            ledger = len(run.ledger()) if run.ledger_ready() else "-"
            self.run.options.progress(
                f"[{now - self.started:5.0f}s] sim {sim_s / 60:6.1f} min"
                f" | ledger {ledger} | batch ends stored {len(run.stored_batch_ends())}/{len(run.batch_ids)}"
                f" | readings msgs stored {run.readings_stored()} | outbox {run.outbox_waiting()}"
            )
        return True
