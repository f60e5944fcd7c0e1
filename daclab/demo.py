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
Ic and gap), as a physicist would choose them from a first look at the sample. The four steps
form an ordinary sequence (:func:`plan` gives them in sequence-file form), run by the same
engine as ``daclab run`` into a run folder under ``daclab-demo/``, followed by the report
(figures, summary.txt, summary.json) and an entry in the run index.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

import numpy as np

from daclab.limits import LimitError
from daclab.run_cli import ProgressPrinter, print_outcome, print_plan
from daclab.rundir import SUMMARY_NAME
from daclab.sequence import run_sequence
from daclab.sequence_file import sequence_from_dict
from daclab.sim.sample import Sample, SampleFileError, load_sample

DEMO_ROOT = "daclab-demo"

FIELDS_T = (0.0, 3.0, 6.0, 9.0)
PULSE_LIMIT_A = 0.080  # paper 001


def plan(sample: Sample) -> list[dict]:
    """The steps of the sequence (sequence-file form), scaled to the simulated sample."""
    tc, width = sample.tc_K, sample.transition_width_K
    second = sample.second_step.tc_K - sample.second_step.width_K if sample.second_step else tc
    top = min(tc + 4 * width + 10, 300.0)
    bottom = max(min(tc, second) - 4 * width - 10, 2.0)
    tc_top_field = sample.tc_in_field(max(FIELDS_T))
    field_bottom = max(min(bottom, tc_top_field - (tc - bottom)), 2.0)
    # Paper 000's 1 mA, unless the bridge's own critical current is smaller: a thin bridge carrying
    # ~1 mA of supercurrent would show its transition shifted down by the excitation.
    excitation_A = min(1e-3, 1e-3 * sample.critical_current(2.0))
    common = dict(resistance_path="delta", excitation_A=float(f"{excitation_A:.3g}"), readings_per_point=1,
                  reading_interval_s=0.0, thermalise_s=600.0, stable_s=60.0)
    # Rates cost lab time, not wall time: slow enough that the thermometer-sample lag stays small.
    cooldown = dict(upper_K=300.0, lower_K=round(bottom, 1), direction="cooling and warming", rate_K_per_min=0.5,
                    point_every_K=0.5, return_rate_K_per_min=5.0, **common)
    # Hc2 of the main phase: the midpoint of a two-step transition mixes two phases, its onset does not.
    criterion = "onset" if sample.second_step else "midpoint"
    series = dict(upper_K=round(top, 1), lower_K=round(field_bottom, 1), fields_T=", ".join(f"{h:g}" for h in FIELDS_T),
                  rate_K_per_min=0.1, point_every_K=0.25, return_rate_K_per_min=5.0, field_rate_T_per_min=0.5,
                  hc2_criterion=criterion, **common)
    pulses = dict(temperatures_K=_ic_temperatures(sample), max_current_mA=PULSE_LIMIT_A * 1e3, step_mA=0.5,
                  stable_s=60.0, thermalise_s=900.0, width_um=float(sample.cross_section_um2[0]),
                  thickness_um=float(sample.cross_section_um2[1]))
    gap_V = sample.gap_meV * 1e-3
    contact_ohm = sample.contact_normal_ohm + sample.spreading_resistance_ohm
    spectra = dict(method="current steps", max_current_A=float(min(8 * gap_V / contact_ohm, PULSE_LIMIT_A)),
                   bias_points=201,
                   temperatures_K=", ".join(f"{t:.0f}" for t in (2.0, 0.3 * tc, 0.5 * tc, 0.7 * tc, 0.85 * tc)),
                   gap_window_mV=float(3e3 * gap_V), series_resistance_ohm=float(sample.spreading_resistance_ohm),
                   thermalise_s=900.0)
    return [{"rt_sweep": cooldown}, {"field_series": series}, {"critical_current": pulses},
            {"differential_conductance": spectra}]


def _ic_temperatures(sample) -> str:
    """Four temperatures where the model's Ic lies between ~10 % and ~90 % of the pulse limit."""
    grid = np.linspace(2.0, sample.tc_K, 400)
    ic = np.array([sample.critical_current(t) for t in grid])
    usable = grid[(ic > 0.1 * PULSE_LIMIT_A) & (ic < 0.9 * PULSE_LIMIT_A)]
    if usable.size == 0:
        usable = grid[ic > 0][-5:]
    return ", ".join(f"{t:.1f}" for t in np.linspace(usable.min(), usable.max(), 4))


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="daclab demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", default="ceh9_cell1", help="sample preset name or sample file (YAML)")
    parser.add_argument("--out", default=DEMO_ROOT, help=f"data folder (default: ./{DEMO_ROOT})")
    parser.add_argument("--seed", type=int, default=0, help="noise seed of the virtual cryostat")
    args = parser.parse_args(argv)
    try:
        sample = load_sample(args.sample)
        spec = sequence_from_dict({
            "name": f"demo {Path(args.sample).stem}", "lab": "simulated",
            "sample": {"name": sample.name, "cell": "virtual cryostat",
                       **({"pressure_GPa": float(sample.pressure_GPa)} if sample.pressure_GPa else {})},
            "steps": plan(sample)}, source="<daclab demo>")
        print_plan(spec, out)
    except (SampleFileError, LimitError, OSError) as error:
        print(f"daclab demo: {error}", file=sys.stderr)
        return 2
    wall = time.perf_counter()
    printer = ProgressPrinter(sys.stderr)
    outcome = run_sequence(spec, out=args.out, simulation={"sample": args.sample, "seed": args.seed, "start_K": 300.0},
                           progress=printer)
    printer.end_line()
    print(f"Simulated overnight sequence on '{sample.name}' in {time.perf_counter() - wall:.1f} s of wall time",
          file=out)
    summary_text = outcome.report_dir / "summary.txt" if outcome.report_dir else None
    if summary_text is not None and summary_text.exists():
        print(summary_text.read_text(encoding="utf-8"), file=out)
    print_outcome(outcome, out)
    if outcome.report_dir is not None:
        print(f"  summary.json: {outcome.report_dir / SUMMARY_NAME}", file=out)
    return 0 if outcome.status == "finished" else 1
