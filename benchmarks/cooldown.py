"""A simulated 300 K -> 2 K cooldown at 0.1 K/min (about 50 hours of lab time) on the simulated
lab, the Lakeshore 350 read through its driver and pyvisa every 0.1 K; a second run also reads
the sample through the three resistance paths every 1 K. Goal: virtual time runs at least
10,000 times faster than the wall clock (both runs measured side by side here).
"""

from __future__ import annotations

import time

from daclab.demo import CooldownPlan, prepare_resistance_paths, run_cooldown
from daclab.lab import Lab

GOAL_RATIO = 10_000.0


def _measure(plan: CooldownPlan, with_paths: bool) -> tuple[float, float, int]:
    with Lab.open("simulated") as lab:
        paths = tuple(prepare_resistance_paths(lab)) if with_paths else ()
        wall = time.perf_counter()
        readings = run_cooldown(plan, lab, paths)
        wall = time.perf_counter() - wall
    return readings[-1].elapsed_s, wall, len(readings)


def run() -> list[dict]:
    results = []
    for label, with_paths, every in (("thermometer only", False, 0.0), ("with 3 resistance paths every 1 K", True, 1.0)):
        plan = CooldownPlan(start_K=300.0, end_K=2.0, rate_K_per_min=0.1, read_every_K=0.1, resistance_every_K=every)
        lab_s, wall, count = _measure(plan, with_paths)
        ratio = lab_s / wall
        results.append({
            "name": f"cooldown 300->2 K at 0.1 K/min, {label}",
            "lab_hours": lab_s / 3600, "readings": count, "wall_s": wall, "ratio": ratio,
            "goal": f">= {GOAL_RATIO:,.0f}x", "met": ratio >= GOAL_RATIO,
        })
    return results
