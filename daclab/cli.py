"""The ``daclab`` command line: ``daclab demo`` runs the main job on the simulated cryostat,
``daclab analyze`` analyses data files."""

from __future__ import annotations

import sys

COMMANDS = {
    "demo": "a short overnight sequence on the simulated cryostat (see daclab.demo)",
    "analyze": "Tc, Hc2, Ic or dI/dV from data files: daclab analyze tc|hc2|ic|didv FILE... [--json]",
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
    from daclab.analyze import main as analyze_main

    return analyze_main(argv[1:])
