"""The main job on the built-in simulated cryostat: a cooldown read through VISA.

The simulated lab (``daclab/labs/simulated.yaml``) is opened like a real one: the Lakeshore 350
ramps the stage down, and the sample is read through the three resistance paths the papers used
(6221/2182A delta mode at 1 mA, Lakeshore 370 bridge at 316 uA, SIM921 bridge at ~100 uA), every
driver talking to its pyvisa-sim twin.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from typing import Callable, TextIO

from daclab import clock as clocks
from daclab.lab import Lab
from daclab.limits import check_range

RESISTANCE_PATHS = {  # role -> excitation current (A)
    "delta": 1e-3,  # paper 000
    "bridge370": 316e-6,  # paper 001
    "bridge921": 100e-6,  # paper 002
}
SIM921_RANGE_CODE = 1  # 200 mohm full scale: the sample's ~0.1 ohm


@dataclasses.dataclass(frozen=True)
class CooldownPlan:
    start_K: float = 300.0
    end_K: float = 2.0
    rate_K_per_min: float = 0.1  # the papers' R-T ramps
    read_every_K: float = 0.1  # thermometer
    resistance_every_K: float = 1.0  # resistance paths (0 = never)

    def __post_init__(self):
        check_range("start_K", self.start_K, 1.5, 320.0, "K")
        check_range("end_K", self.end_K, 1.5, 320.0, "K")
        check_range("rate_K_per_min", self.rate_K_per_min, 0.001, 100.0, "K/min")
        check_range("read_every_K", self.read_every_K, 1e-3, 50.0, "K")
        check_range("resistance_every_K", self.resistance_every_K, 0.0, 100.0, "K")
        if self.end_K >= self.start_K:
            raise ValueError(f"end_K = {self.end_K} must be below start_K = {self.start_K} for a cooldown")

    @property
    def read_period_s(self) -> float:
        return self.read_every_K / self.rate_K_per_min * 60.0


@dataclasses.dataclass(frozen=True)
class Reading:
    elapsed_s: float
    thermometer_K: float
    resistances_ohm: dict[str, float]  # empty when the paths were not read at this step


def prepare_resistance_paths(lab: Lab) -> dict[str, float]:
    """Set each path's excitation; returns the current each actually drives."""
    bridge921 = lab.role("bridge921")
    bridge921.bridge.range_code = SIM921_RANGE_CODE  # an excitation exists only for the range in use
    actual = {}
    for role, current in RESISTANCE_PATHS.items():
        driven = lab.role(role).set_excitation(current)
        actual[role] = current if driven is None else driven
    return actual


def run_cooldown(plan: CooldownPlan, lab: Lab, paths: tuple[str, ...] = (),
                 on_reading: Callable[[Reading], None] = lambda reading: None) -> list[Reading]:
    """Ramp from start to end on the lab's temperature controller, reading as the plan says."""
    controller = lab.role("temperature")
    controller.set_setpoint(plan.start_K)
    controller.set_setpoint(plan.end_K, rate_K_per_min=plan.rate_K_per_min)
    steps_per_resistance = math.inf if plan.resistance_every_K == 0 else max(
        1, round(plan.resistance_every_K / plan.read_every_K))
    readings, start, step = [], clocks.current().now(), 0
    while True:
        clocks.sleep(plan.read_period_s)
        step += 1
        temperature = controller.temperature()
        resistances = {}
        if paths and step % steps_per_resistance == 0:
            resistances = {role: lab.role(role).resistance() for role in paths}
        reading = Reading(clocks.current().now() - start, temperature, resistances)
        readings.append(reading)
        on_reading(reading)
        if controller.ramp_done() and abs(temperature - plan.end_K) < 0.05:
            return readings


def zero_resistance_temperature(readings: list[Reading], role: str, threshold_fraction: float = 0.01) -> float:
    """Highest temperature below which the path reads under 1 % of its value at the top of the sweep."""
    points = [(r.thermometer_K, r.resistances_ohm[role]) for r in readings if role in r.resistances_ohm]
    if not points:
        return math.nan
    top = max(points)[1]
    above = [t for t, value in points if value >= threshold_fraction * top]
    return min(above) if above else math.nan


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="daclab demo", description=__doc__)
    parser.add_argument("--lab", default="simulated", help="lab file or built-in lab name")
    parser.add_argument("--start", type=float, default=300.0, help="start temperature, K")
    parser.add_argument("--end", type=float, default=2.0, help="end temperature, K")
    parser.add_argument("--rate", type=float, default=0.1, help="ramp rate, K/min")
    parser.add_argument("--print-every", type=float, default=10.0, help="progress line every this many kelvin")
    args = parser.parse_args(argv)
    try:
        plan = CooldownPlan(args.start, args.end, args.rate)
        lab = Lab.open(args.lab)
    except (ValueError, FileNotFoundError) as error:
        print(f"daclab demo: {error}", file=sys.stderr)
        return 2

    with lab:
        if lab.world is not None:
            lab.world.stage.stage_K = lab.world.stage.sample_K = plan.start_K
            print(f"Simulated cooldown of '{lab.world.sample.name}'", file=out)
        currents = prepare_resistance_paths(lab)
        print(f"{plan.start_K:g} K -> {plan.end_K:g} K at {plan.rate_K_per_min:g} K/min; thermometer every "
              f"{plan.read_every_K:g} K, sample every {plan.resistance_every_K:g} K through "
              + ", ".join(f"{role} ({current * 1e6:.0f} uA)" for role, current in currents.items()), file=out)
        print(f"  {'':32} {'t (h)':>6} {'T (K)':>8} " + " ".join(f"{role + ' (ohm)':>16}" for role in currents),
              file=out)
        span = plan.start_K - plan.end_K
        next_print = [plan.start_K - args.print_every]
        last_resistances: dict[str, float] = {}

        def progress(reading: Reading) -> None:
            last_resistances.update(reading.resistances_ohm)
            if reading.thermometer_K > next_print[0] and reading.thermometer_K > plan.end_K + 0.05:
                return
            done = min(max((plan.start_K - reading.thermometer_K) / span, 0.0), 1.0)
            values = " ".join(f"{last_resistances.get(role, math.nan):16.6f}" for role in currents)
            print(f"  [{'#' * int(done * 30):<30}] {reading.elapsed_s / 3600:6.2f} {reading.thermometer_K:8.3f} {values}",
                  file=out, flush=True)
            while next_print[0] >= reading.thermometer_K:
                next_print[0] -= args.print_every

        wall = time.perf_counter()
        readings = run_cooldown(plan, lab, tuple(currents), progress)
        wall = time.perf_counter() - wall
        for role in currents:
            lab.role(role).stop()
    zeros = ", ".join(f"{role} {zero_resistance_temperature(readings, role):.1f} K" for role in currents)
    print(f"Zero resistance (below 1 % of the normal state) reached at: {zeros}", file=out)
    print(f"Done: {len(readings)} readings over {readings[-1].elapsed_s / 3600:.1f} h of lab time in {wall:.1f} s "
          f"({readings[-1].elapsed_s / wall:,.0f}x real time).", file=out)
    return 0
