"""The ``daclab`` command: one entry point, one sub-command per job."""

from __future__ import annotations

import importlib
import os
import sys

# name -> (module, function, one line of help)
COMMANDS = {
    "demo": ("daclab.demo", "main", "the main job: an overnight sequence on the virtual cryostat, then its report"),
    "run": ("daclab.run_cli", "main_run", "run a sequence file: daclab run SEQUENCE [--sim [SAMPLE]] [--out DIR]"),
    "resume": ("daclab.run_cli", "main_resume", "continue an interrupted sequence: daclab resume RUN_DIR"),
    "analyze": ("daclab.analyze", "main", "Tc, Hc2, Ic, dI/dV or aging from data files: daclab analyze KIND FILE..."),
    "report": ("daclab.report", "main", "figures and summary of a run: daclab report RUN_DIR"),
    "runs": ("daclab.run_index", "main", "list and filter the runs of a data folder: daclab runs [--sample S]"),
    "gui": ("daclab.gui.app", "main", "the window at the cryostat: daclab gui --sim [SAMPLE] or --lab LAB_FILE"),
    "sim": ("daclab.sim_cli", "main", "the virtual cryostat's sample presets: daclab sim presets"),
}


def usage() -> str:
    lines = ["usage: daclab COMMAND [options]    (daclab COMMAND --help for each)", "", "commands:"]
    lines += [f"  {name:<8} {text}" for name, (_, _, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] not in COMMANDS:
        print(f"daclab: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, function, _ = COMMANDS[argv[0]]
    command = getattr(importlib.import_module(module), function)
    try:
        return command(argv[1:])
    except SystemExit as exit_:  # argparse's --help and usage errors
        return exit_.code if isinstance(exit_.code, int) else 2
    except BrokenPipeError:  # the reader left ('daclab analyze ... | head'): nothing more to say
        # Python would report the pipe again when flushing stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
