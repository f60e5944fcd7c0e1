"""The ``daclab`` command line: ``daclab demo`` runs the main job on the simulated cryostat."""

from __future__ import annotations

import sys

COMMANDS = {
    "demo": "a simulated cooldown read through VISA (see daclab.demo)",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print("usage: daclab COMMAND [options]\n\ncommands:")
        for name, text in COMMANDS.items():
            print(f"  {name:<8} {text}")
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    if argv[0] == "demo":
        from daclab.demo import main as demo_main

        return demo_main(argv[1:])
    return 2
