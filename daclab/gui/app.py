"""``daclab gui``: the window at the cryostat, or on the virtual cryostat with ``--sim``.

    daclab gui --sim                 # the virtual cryostat with the ceh9_cell1 preset, 600x speed
    daclab gui --sim lah10_aging --speedup 3000
    daclab gui --lab cryostat2.yaml  # a real lab file

With ``--sim`` everything runs as at the cryostat (the same procedures, sequence engine, run
folders and analysis) on the simulated instruments, with lab time running ``--speedup`` times
faster than the wall clock, so a new user can rehearse a whole cooldown in minutes.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from daclab.lab import Lab, LabFileError
from daclab.rundir import DEFAULT_ROOT

SIM_ROOT = "daclab-sim"  # rehearsals stay out of the real data folder
DEFAULT_SPEEDUP = 600.0  # a 0.1 K/min sweep over 60 K (10 h) in a minute


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="daclab gui", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sim", nargs="?", const="ceh9_cell1", default=None, metavar="SAMPLE",
                        help="run on the virtual cryostat (a sample preset, see 'daclab sim presets', or a "
                             "sample file; default ceh9_cell1)")
    parser.add_argument("--speedup", type=float, default=DEFAULT_SPEEDUP,
                        help=f"with --sim: lab seconds per wall second (default {DEFAULT_SPEEDUP:g}; 'inf' = instant)")
    parser.add_argument("--start-K", type=float, default=300.0, help="with --sim: where the cryostat starts (K)")
    parser.add_argument("--seed", type=int, default=0, help="with --sim: noise seed of the virtual cryostat")
    parser.add_argument("--lab", default=None, help="lab file of a real setup (without --sim)")
    parser.add_argument("--data", default=None,
                        help=f"data folder (default ./{DEFAULT_ROOT}, with --sim ./{SIM_ROOT})")
    return parser


def open_lab(args: argparse.Namespace) -> tuple[Lab, str]:
    """The lab the window runs on, and its lab-file name for the checks of the form."""
    if args.sim is not None and args.lab is not None:
        raise ValueError("--sim and --lab exclude each other: the window runs on one lab")
    if args.sim is not None:
        if not (args.speedup > 0):
            raise ValueError(f"--speedup = {args.speedup} is not allowed; it must be > 0 (inf = instant)")
        if not 1.5 <= args.start_K <= 320.0:
            raise ValueError(f"--start-K = {args.start_K} is not allowed; allowed range [1.5, 320] K")
        return Lab.open("simulated", sample=args.sim, speedup=args.speedup, start_K=args.start_K,
                        seed=args.seed), "simulated"
    if args.lab is None:
        raise ValueError("say which setup: --lab LAB_FILE for the cryostat, or --sim [SAMPLE] for the virtual one")
    return Lab.open(args.lab), args.lab


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        lab, lab_file = open_lab(args)
    except (ValueError, LabFileError, OSError) as error:
        print(f"daclab gui: {error}", file=sys.stderr)
        return 2
    from qtpy.QtWidgets import QApplication

    from daclab.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    root = args.data or (SIM_ROOT if args.sim is not None else DEFAULT_ROOT)
    where = f"virtual cryostat, {args.sim}, x{args.speedup:g}" if args.sim is not None else lab.config.name
    window = MainWindow(lab, root, lab_file=lab_file, title=f"daclab - {where}")
    window.resize(1366, 768)
    window.show()
    try:
        return app.exec()
    finally:
        lab.close()


if __name__ == "__main__":
    sys.exit(main())

