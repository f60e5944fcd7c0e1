"""``daclab sim presets [--json] [--show NAME]``: the sample presets of the simulated cryostat.

Rehearsing a measurement on the simulated lab (``daclab demo --sample NAME``,
``Lab.open("simulated", sample=NAME)``) starts with choosing a sample whose truths the analysis
should find again. ``presets`` lists every preset in ``sim_configs/samples/`` with those truths
as the sample model reads them (daclab.sim.sample): the zero-field midpoint Tc and the 10-90 %
width, Hc2(0) for the preset's field angle, Jc(0) and the cross-section, the critical current
they give at 2 K, the gap and 2 Delta(0)/kB Tc, the pressure and the age, plus the second step
and the aging of Tc where a preset has them. ``--show NAME`` prints the preset file itself.
Mistakes give one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Sequence

from daclab.analysis.bcs import gap_ratio_2delta_over_ktc
from daclab.analysis.fitting import plain
from daclab.command_line import EXIT_USAGE, CommandParser, ParserExit, UsageError
from daclab.sim.configs import preset_names, sample_path
from daclab.sim.sample import Sample, SampleFileError, load_sample

# Ic is quoted where the papers' pulsed I-V starts (paper 001: 2 K, pulses of at most 80 mA).
IC_TEMPERATURE_K = 2.0


@dataclasses.dataclass(frozen=True)
class PresetTruths:
    """What the analysis of a run on the preset should find, from the sample model."""

    preset: str  # file stem, the name to pass as --sample
    name: str  # the sample's own description
    tc_K: float  # zero-field midpoint
    transition_width_K: float  # 10-90 %
    hc2_0_T: float  # for the preset's field angle
    jc0_A_cm2: float
    cross_section_um2: tuple[float, float]  # width, thickness
    ic_2K_mA: float  # Jc(2 K) of the pinning model through the cross-section
    gap_meV: float  # Delta(0)
    ratio_2delta_over_kTc: float
    pressure_GPa: float | None
    age_days: float  # days since synthesis when the simulation starts
    second_step_tc_K: float | None
    tc_final_K: float | None  # where Tc settles as the sample ages
    aging_time_constant_days: float | None


def preset_truths(preset: str, sample: Sample) -> PresetTruths:
    """The truths of ``sample`` (loaded from the preset file ``preset``)."""
    ages = sample.tc_final_K is not None
    return PresetTruths(
        preset=preset, name=sample.name, tc_K=sample.tc_K, transition_width_K=sample.transition_width_K,
        hc2_0_T=sample.effective_hc2_0(), jc0_A_cm2=sample.jc0_A_cm2, cross_section_um2=sample.cross_section_um2,
        ic_2K_mA=sample.critical_current(IC_TEMPERATURE_K) * 1e3, gap_meV=sample.gap_meV,
        ratio_2delta_over_kTc=float(gap_ratio_2delta_over_ktc(sample.gap_meV, sample.tc_K)),
        pressure_GPa=sample.pressure_GPa, age_days=sample.days_since_synthesis,
        second_step_tc_K=sample.second_step.tc_K if sample.second_step else None,
        tc_final_K=sample.tc_final_K, aging_time_constant_days=sample.aging_time_constant_days if ages else None,
    )


def all_presets() -> list[PresetTruths]:
    """Every built-in preset, by name; a preset the model refuses is a UsageError naming it."""
    truths = []
    for preset in preset_names():
        try:
            truths.append(preset_truths(preset, load_sample(preset)))
        except (SampleFileError, OSError) as error:
            raise UsageError(f"preset {preset!r} does not load: {error}") from None
    return truths


# Columns of the text table: heading, and how a PresetTruths shows in it.
_COLUMNS = (
    ("preset", lambda t: t.preset),
    ("Tc K", lambda t: f"{t.tc_K:.1f}"),
    ("width K", lambda t: f"{t.transition_width_K:.1f}"),
    ("Hc2(0) T", lambda t: f"{t.hc2_0_T:.0f}"),
    ("Jc(0) MA/cm2", lambda t: f"{t.jc0_A_cm2 * 1e-6:.2f}"),
    ("w x t um", lambda t: "{:g} x {:g}".format(*t.cross_section_um2)),
    ("Ic(2 K) mA", lambda t: f"{t.ic_2K_mA:.1f}"),
    ("gap meV", lambda t: f"{t.gap_meV:.2f}"),
    ("2D/kTc", lambda t: f"{t.ratio_2delta_over_kTc:.2f}"),
    ("P GPa", lambda t: "?" if t.pressure_GPa is None else f"{t.pressure_GPa:g}"),
    ("age d", lambda t: f"{t.age_days:g}"),
    ("sample", lambda t: t.name + _notes(t)),
)


def _notes(truths: PresetTruths) -> str:
    notes = []
    if truths.second_step_tc_K is not None:
        notes.append(f"second step at {truths.second_step_tc_K:g} K")
    if truths.tc_final_K is not None:
        notes.append(f"Tc ages to {truths.tc_final_K:g} K, tau {truths.aging_time_constant_days:g} d")
    return f" ({'; '.join(notes)})" if notes else ""


def render_table(presets: Sequence[PresetTruths]) -> str:
    """The presets as an aligned text table, one line each (numbers right-aligned)."""
    rows = [[heading for heading, _ in _COLUMNS]] + [[show(t) for _, show in _COLUMNS] for t in presets]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    last = len(_COLUMNS) - 1
    lines = []
    for row in rows:
        cells = [cell.ljust(width) if i in (0, last) else cell.rjust(width)
                 for i, (cell, width) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="daclab sim", description="The simulated cryostat's sample presets.",
                     epilog="Mistakes in the command: one line on stderr, exit code 2.")
    commands = parser.add_subparsers(dest="command", metavar="presets", parser_class=CommandParser)
    text = "list the sample presets with their truths (Tc, Hc2(0), Ic, gap ...), or show one"
    presets = commands.add_parser("presets", help=text, description=text)
    shown = presets.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="print the truths as JSON")
    shown.add_argument("--show", metavar="NAME", help="print the preset file NAME (a name from the list)")
    return parser


def show_preset(name: str) -> str:
    """The text of the preset file ``name``."""
    known = preset_names()
    if name not in known:
        raise UsageError(f"no preset {name!r}; presets: {', '.join(known)}")
    return sample_path(name).read_text(encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """``daclab sim ...``; 0 on success, 2 on a mistake in the command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        options = build_parser().parse_args(argv)
        if options.command is None:
            raise UsageError("choose a command: presets (daclab sim --help)")
        if options.show is not None:
            text = show_preset(options.show)
        elif options.json:
            presets = [plain(truths, nan=None) for truths in all_presets()]
            text = json.dumps({"presets": presets}, indent=2, allow_nan=False) + "\n"
        else:
            text = render_table(all_presets())
    except ParserExit as done:
        return done.status
    except (UsageError, OSError) as error:
        print("daclab sim: " + " ".join(str(error).split()), file=sys.stderr)
        return EXIT_USAGE
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
