"""The main job on the built-in simulated cryostat: a cooldown read through VISA.

The Lakeshore 350 of the virtual cryostat is driven through pyvisa exactly as the real one is
(heater setup, PID, ramp, setpoint) and read every ``read_every_K`` while the stage ramps down.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Callable, TextIO

import pyvisa

from daclab import clock as clocks
from daclab import sim

LS350_RESOURCE = "ASRL3::INSTR"


@dataclasses.dataclass(frozen=True)
class CooldownPlan:
    start_K: float = 300.0
    end_K: float = 2.0
    rate_K_per_min: float = 0.1  # the papers' R-T ramps
    read_every_K: float = 0.1

    def __post_init__(self):
        checks = (("start_K", self.start_K, 1.5, 320.0), ("end_K", self.end_K, 1.5, 320.0),
                  ("rate_K_per_min", self.rate_K_per_min, 0.001, 100.0), ("read_every_K", self.read_every_K, 1e-3, 50.0))
        for name, value, low, high in checks:
            if not low <= value <= high:
                raise ValueError(f"{name} = {value} is outside the allowed range [{low}, {high}]")

    @property
    def read_period_s(self) -> float:
        return self.read_every_K / self.rate_K_per_min * 60.0


@dataclasses.dataclass(frozen=True)
class Reading:
    elapsed_s: float
    setpoint_K: float
    thermometer_K: float
    heater_percent: float


def open_lakeshore350(rm: pyvisa.ResourceManager):
    return rm.open_resource(LS350_RESOURCE, read_termination="\r\n", write_termination="\r\n")


def run_cooldown(plan: CooldownPlan, world: sim.VirtualCryostat,
                 on_reading: Callable[[Reading], None] = lambda reading: None) -> list[Reading]:
    """Ramp the virtual cryostat from start to end through VISA, reading every step."""
    sim.use(world)
    rm = pyvisa.ResourceManager(f"{sim.sim_config('lakeshore350.yaml')}@sim")
    ls350 = open_lakeshore350(rm)
    try:
        ls350.write(f"HTRSET 1,1,4,0,2;OUTMODE 1,1,1,0;PID 1,50,20,0;RANGE 1,5;RAMP 1,0,0;SETP 1,{plan.start_K}")
        ls350.write(f"RAMP 1,1,{plan.rate_K_per_min};SETP 1,{plan.end_K}")
        readings, start = [], clocks.current().now()
        while True:
            clocks.sleep(plan.read_period_s)
            reading = Reading(
                elapsed_s=clocks.current().now() - start,
                setpoint_K=float(ls350.query("SETP? 1")),
                thermometer_K=float(ls350.query("KRDG? A")),
                heater_percent=float(ls350.query("HTR? 1")),
            )
            readings.append(reading)
            on_reading(reading)
            if reading.setpoint_K <= plan.end_K and int(ls350.query("RAMPST? 1")) == 0 \
                    and abs(reading.thermometer_K - plan.end_K) < 0.05:
                return readings
    finally:
        ls350.close()
        rm.close()


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="daclab demo", description=__doc__)
    parser.add_argument("--sample", default="ceh9_cell1", help=f"preset ({', '.join(sim.preset_names())}) or sample file")
    parser.add_argument("--start", type=float, default=300.0, help="start temperature, K")
    parser.add_argument("--end", type=float, default=2.0, help="end temperature, K")
    parser.add_argument("--rate", type=float, default=0.1, help="ramp rate, K/min")
    parser.add_argument("--print-every", type=float, default=10.0, help="progress line every this many kelvin")
    args = parser.parse_args(argv)
    try:
        plan = CooldownPlan(args.start, args.end, args.rate)
        world = sim.VirtualCryostat(args.sample, start_K=args.start)
    except (ValueError, FileNotFoundError) as error:
        print(f"daclab demo: {error}", file=sys.stderr)
        return 2

    print(f"Simulated cooldown of '{world.sample.name}': {plan.start_K:g} K -> {plan.end_K:g} K "
          f"at {plan.rate_K_per_min:g} K/min, Lakeshore 350 read through pyvisa every {plan.read_every_K:g} K",
          file=out)
    span = plan.start_K - plan.end_K
    next_print = [plan.start_K - args.print_every]

    def progress(reading: Reading) -> None:
        if reading.thermometer_K <= next_print[0] or reading.thermometer_K <= plan.end_K + 0.05:
            done = min(max((plan.start_K - reading.thermometer_K) / span, 0.0), 1.0)
            bar = "#" * int(done * 30)
            print(f"  [{bar:<30}] {done:6.1%}  t = {reading.elapsed_s / 3600:6.2f} h  "
                  f"T = {reading.thermometer_K:8.3f} K  setpoint {reading.setpoint_K:8.3f} K  "
                  f"heater {reading.heater_percent:5.1f} %", file=out, flush=True)
            while next_print[0] >= reading.thermometer_K:
                next_print[0] -= args.print_every

    wall = time.perf_counter()
    readings = run_cooldown(plan, world, progress)
    wall = time.perf_counter() - wall
    lab_hours = readings[-1].elapsed_s / 3600
    print(f"Done: {len(readings)} readings over {lab_hours:.1f} h of lab time in {wall:.1f} s "
          f"({readings[-1].elapsed_s / wall:,.0f}x real time).", file=out)
    return 0
