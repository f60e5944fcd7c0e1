"""A simulated 300 K -> 2 K cooldown at 0.1 K/min (about 50 hours of lab time), read through
pyvisa every 0.1 K. Goal: virtual time runs at least 10,000 times faster than the wall clock.
"""

from __future__ import annotations

import time

from daclab import sim
from daclab.demo import CooldownPlan, run_cooldown

GOAL_RATIO = 10_000.0


def run() -> dict:
    plan = CooldownPlan(start_K=300.0, end_K=2.0, rate_K_per_min=0.1, read_every_K=0.1)
    world = sim.VirtualCryostat("ceh9_cell1", start_K=plan.start_K)
    wall = time.perf_counter()
    readings = run_cooldown(plan, world)
    wall = time.perf_counter() - wall
    ratio = readings[-1].elapsed_s / wall
    return {
        "name": "cooldown 300->2 K at 0.1 K/min via pyvisa",
        "lab_hours": readings[-1].elapsed_s / 3600,
        "readings": len(readings),
        "wall_s": wall,
        "ratio": ratio,
        "goal": f">= {GOAL_RATIO:,.0f}x",
        "met": ratio >= GOAL_RATIO,
    }
