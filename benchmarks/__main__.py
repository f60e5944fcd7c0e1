"""Run every benchmark and print one line each; exit 1 when a goal is missed."""

import sys

from benchmarks import btk_fit, cooldown, plot_redraw, whh_fit

BENCHMARKS = [cooldown, btk_fit, whh_fit, plot_redraw]


def main() -> int:
    missed = 0
    for result in (r for bench in BENCHMARKS for r in bench.run()):
        verdict = "met" if result["met"] else "MISSED"
        details = ", ".join(f"{k} = {v:,.3g}" if isinstance(v, float) else f"{k} = {v}"
                            for k, v in result.items() if k not in ("name", "goal", "met"))
        print(f"{result['name']}: {details}; goal {result['goal']}: {verdict}")
        missed += not result["met"]
    return 1 if missed else 0


sys.exit(main())
