"""End-to-end harness: a simulated plant through agent, Mosquitto, collector and InfluxDB.

Used by tests/e2e (as a context manager) and by scripts/demo (`python -m tests.harness`).
"""

from tests.harness.compare import TOLERANCE, BatchComparison, compare, format_table
from tests.harness.world import Options, PlantRun, plant_run

__all__ = ["TOLERANCE", "BatchComparison", "Options", "PlantRun", "compare", "format_table", "plant_run"]
