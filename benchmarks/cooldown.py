"""A simulated 300 K -> 2 K cooldown at 0.1 K/min (about 50 hours of lab time): the R-T sweep
procedure on the simulated lab, a point every 0.1 K written to its data file, the sample read
through each resistance path in turn. Goal: virtual time runs at least 10,000 times faster than
the wall clock (all paths measured side by side here).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from daclab import runner
from daclab.lab import Lab
from daclab.procedures.rt_sweep import RESISTANCE_PATHS, RTSweep

GOAL_RATIO = 10_000.0


def _measure(path: str, folder: Path) -> tuple[float, float, int]:
    with Lab.open("simulated", start_K=300.0) as lab:
        sweep = RTSweep(lab=lab, resistance_path=path, upper_K=300.0, lower_K=2.0, direction="cooling",
                        rate_K_per_min=0.1, point_every_K=0.1, readings_per_point=1, reading_interval_s=0.0,
                        thermalise_s=0.0, stable_s=0.0)
        lab_start, wall = lab.world.elapsed_s, time.perf_counter()
        outcome = runner.run(sweep, folder / f"{path}.csv")
        wall = time.perf_counter() - wall
        if outcome.status != "finished":
            raise RuntimeError(f"benchmark cooldown on {path} ended {outcome.status}: {outcome.error}")
        return lab.world.elapsed_s - lab_start, wall, outcome.points


def run() -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for path in RESISTANCE_PATHS:
            lab_s, wall, points = _measure(path, Path(folder))
            ratio = lab_s / wall
            results.append({
                "name": f"R-T sweep 300->2 K at 0.1 K/min through {path}, a point every 0.1 K",
                "lab_hours": lab_s / 3600, "points": points, "wall_s": wall, "ratio": ratio,
                "goal": f">= {GOAL_RATIO:,.0f}x", "met": ratio >= GOAL_RATIO,
            })
    return results
