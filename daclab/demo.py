"""The main job on the built-in simulated cryostat: a short overnight sequence of measurements.

The simulated lab (``daclab/labs/simulated.yaml``) is opened like a real one, and the sample
(a preset or any sample file) is measured as the papers did, one procedure after the other on
the same cooldown, each written point by point to its own data file:

1. R-T from room temperature through the transition, cooling then warming (6221/2182A delta
   mode at 1 mA), with every Tc criterion and the thermal lag;
2. a field series 0-9 T through the transition window, with Hc2(T) fitted by WHH;
3. pulsed I-V (1 ms pulses every 2 s, at most 80 mA) at four temperatures below the zero of
   resistance, with Ic, Jc and the delta-l pinning fit;
4. dI/dV by three small current steps at five temperatures, with BTK gaps and the BCS fit.

The windows and temperatures are chosen from the simulated sample's own scale (its Tc, Hc2,
Ic and gap), as a physicist would choose them from a first look at the sample.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import TextIO

import numpy as np

from daclab import runner
from daclab.lab import Lab, LabFileError
from daclab.limits import LimitError
from daclab.procedures.critical_current import CriticalCurrent
from daclab.procedures.differential_conductance import DifferentialConductance
from daclab.procedures.field_series import FieldSeries
from daclab.procedures.rt_sweep import RTSweep
from daclab.sim.sample import SampleFileError

FIELDS_T = (0.0, 3.0, 6.0, 9.0)
PULSE_LIMIT_A = 0.080  # paper 001


def _plan(lab: Lab) -> list[tuple[str, object]]:
    """The sequence, scaled to the simulated sample."""
    sample = lab.world.sample
    tc, width = sample.tc_K, sample.transition_width_K
    second = sample.second_step.tc_K - sample.second_step.width_K if sample.second_step else tc
    top = min(tc + 4 * width + 10, 300.0)
    bottom = max(min(tc, second) - 4 * width - 10, 2.0)
    tc_top_field = sample.tc_in_field(max(FIELDS_T))
    field_bottom = max(min(bottom, tc_top_field - (tc - bottom)), 2.0)
    common = dict(lab=lab, resistance_path="delta", readings_per_point=1, reading_interval_s=0.0,
                  thermalise_s=600.0, stable_s=60.0)
    # Rates cost lab time, not wall time: slow enough that the thermometer-sample lag stays small.
    cooldown = RTSweep(upper_K=300.0, lower_K=bottom, direction="cooling and warming", rate_K_per_min=0.5,
                       point_every_K=0.5, return_rate_K_per_min=5.0, **common)
    series = FieldSeries(upper_K=top, lower_K=field_bottom, fields_T=", ".join(f"{h:g}" for h in FIELDS_T),
                         rate_K_per_min=0.1, point_every_K=0.25, return_rate_K_per_min=5.0,
                         field_rate_T_per_min=0.5, **common)
    pulses = CriticalCurrent(lab=lab, temperatures_K=_ic_temperatures(sample), max_current_mA=PULSE_LIMIT_A * 1e3,
                             step_mA=0.5, stable_s=60.0, thermalise_s=900.0,
                             width_um=sample.cross_section_um2[0], thickness_um=sample.cross_section_um2[1])
    gap_V = sample.gap_meV * 1e-3
    contact_ohm = sample.contact_normal_ohm + sample.spreading_resistance_ohm
    spectra = DifferentialConductance(
        lab=lab, method="current steps", max_current_A=min(8 * gap_V / contact_ohm, PULSE_LIMIT_A),
        bias_points=201, temperatures_K=", ".join(f"{t:.0f}" for t in (2.0, 0.3 * tc, 0.5 * tc, 0.7 * tc, 0.85 * tc)),
        gap_window_mV=3e3 * gap_V, series_resistance_ohm=sample.spreading_resistance_ohm,
        thermalise_s=900.0)
    return [("rt_cooldown", cooldown), ("field_series", series), ("critical_current", pulses),
            ("differential_conductance", spectra)]


def _ic_temperatures(sample) -> str:
    """Four temperatures where the model's Ic lies between ~10 % and ~90 % of the pulse limit."""
    grid = np.linspace(2.0, sample.tc_K, 400)
    ic = np.array([sample.critical_current(t) for t in grid])
    usable = grid[(ic > 0.1 * PULSE_LIMIT_A) & (ic < 0.9 * PULSE_LIMIT_A)]
    if usable.size == 0:
        usable = grid[ic > 0][-5:]
    return ", ".join(f"{t:.1f}" for t in np.linspace(usable.min(), usable.max(), 4))


def _summary(name: str, analysis: list[dict]) -> list[str]:
    """One line per result a physicist reads first."""
    lines = []
    for record in analysis:
        kind = record["kind"]
        if name == "rt_cooldown" and kind == "tc":
            lines.append(f"  Tc ({record['direction']}): onset {record['onset_K']:.1f} K, midpoint "
                         f"{record['midpoint_K']:.1f} K, zero {record['zero_K']:.1f} K, width {record['width_K']:.1f} K")
        elif kind == "tc_pair":
            mean, lag = record["mean_K"], record["lag_K"]
            lines.append(f"  cooling/warming mean midpoint {mean['midpoint']:.1f} K, lag {lag['midpoint']:.1f} K")
        elif name == "field_series" and kind == "tc":
            lines.append(f"  {record['field_T']:4.1f} T: Tc midpoint {record['midpoint_K']:.1f} K")
        elif kind == "ic":
            reached = "" if record["reached"] else " (not reached below the pulse limit)"
            lines.append(f"  {record['temperature_K']:5.1f} K: Ic {record['ic_A'] * 1e3:.1f} mA{reached}")
        elif kind == "btk":
            lines.append(f"  {record['temperature_K']:5.1f} K: gap {_value(record['delta_meV']):.2f} meV, "
                         f"Z {_value(record['z']):.2f}")
    final = {kind: record for record in analysis for kind in [record["kind"]]}
    if "hc2" in final:
        fit = final["hc2"]
        lines.append(f"  Hc2(0) ({fit.get('model', 'whh')}): {_estimate(fit['hc2_0_T'])} T, "
                     f"Tc {_estimate(fit['tc_K'])} K")
    if "jc_fit" in final:
        fit = final["jc_fit"]
        lines.append(f"  Jc(0) ({fit['model']}): {_estimate(fit['jc0_A_cm2'], scale=1e-6)} MA/cm2, "
                     f"Tc {_estimate(fit['tc_K'])} K")
    if "gap_fit" in final:
        fit = final["gap_fit"]
        lines.append(f"  BCS fit: Delta(0) {_estimate(fit['delta0_meV'])} meV, Tc {_estimate(fit['tc_K'])} K, "
                     f"2 Delta/kTc {_estimate(fit['ratio'])}")
    return lines


def _value(entry) -> float:
    return entry["value"] if isinstance(entry, dict) else float(entry)


def _estimate(entry, scale: float = 1.0) -> str:
    if not isinstance(entry, dict):
        return f"{float(entry) * scale:.3g}"
    stderr = entry.get("stderr")
    text = f"{entry['value'] * scale:.3g}"
    return text if stderr is None or not math.isfinite(stderr) else f"{text} +- {stderr * scale:.2g}"


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="daclab demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", default="ceh9_cell1", help="sample preset name or sample file (YAML)")
    parser.add_argument("--out", default=None, help="folder for the data files (default: ./daclab-demo/<time>)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed of the virtual cryostat")
    args = parser.parse_args(argv)
    folder = Path(args.out) if args.out else Path("daclab-demo") / time.strftime("%Y%m%d-%H%M%S")
    try:
        lab = Lab.open("simulated", sample=args.sample, start_K=300.0, seed=args.seed)
    except (LabFileError, SampleFileError, FileNotFoundError, ValueError) as error:
        print(f"daclab demo: {error}", file=sys.stderr)
        return 2
    failed = 0
    wall_start = time.perf_counter()
    with lab:
        print(f"Simulated overnight sequence on '{lab.world.sample.name}', data in {folder}/", file=out)
        try:
            plan = _plan(lab)
            for _, procedure in plan:
                procedure.check()
        except LimitError as error:
            print(f"daclab demo: {error}", file=sys.stderr)
            return 2
        for index, (name, procedure) in enumerate(plan, 1):
            wall = time.perf_counter()
            lab_start = lab.world.elapsed_s
            path = folder / f"{index}_{name}.csv"
            outcome = runner.run(procedure, path)
            hours = (lab.world.elapsed_s - lab_start) / 3600
            print(f"{index}. {type(procedure).__name__}: {outcome.status}, {outcome.points} points, "
                  f"{hours:.1f} h of lab time in {time.perf_counter() - wall:.1f} s -> {path}", file=out)
            if outcome.error:
                print(f"  error: {outcome.error}", file=out)
                failed += 1
            for line in _summary(name, outcome.analysis):
                print(line, file=out)
            out.flush()
        lab_hours = lab.world.elapsed_s / 3600
    print(f"Done: {lab_hours:.1f} h of lab time in {time.perf_counter() - wall_start:.1f} s; "
          f"analyse again with: daclab analyze tc {folder}/1_rt_cooldown.csv", file=out)
    return 1 if failed else 0
