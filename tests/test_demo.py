"""`make demo`'s job on a shorter span: a cooldown through the transition, three paths agreeing."""

import io

import pytest

from daclab.demo import CooldownPlan, main


def test_demo_cools_through_the_transition_and_the_three_paths_agree():
    out = io.StringIO()
    assert main(["--start", "120", "--end", "60", "--rate", "0.2", "--print-every", "20"], out=out) == 0
    text = out.getvalue()
    assert "Simulated cooldown of 'CeH9 cell-1" in text
    assert "delta (1000 uA), bridge370 (316 uA), bridge921 (150 uA)" in text
    zeros = text.split("reached at: ")[1].split("\n")[0]
    temperatures = [float(part.split()[1]) for part in zeros.split(", ")]
    assert len(temperatures) == 3 and max(temperatures) - min(temperatures) <= 1.0
    # the preset reaches zero resistance near 78 K; the thermometer leads the sample by ~1 K at 0.2 K/min
    assert 74.0 <= min(temperatures) <= 82.0
    assert "Done:" in text


@pytest.mark.parametrize("args, message", [
    (["--rate", "500"], "rate_K_per_min = 500 K/min is outside the allowed range [0.001, 100] K/min"),
    (["--start", "10", "--end", "20"], "end_K = 20.0 must be below start_K = 10.0"),
    (["--lab", "nowhere"], "built-in: simulated"),
])
def test_demo_refuses_bad_input_before_touching_anything(args, message, capsys):
    assert main(args, out=io.StringIO()) == 2
    assert message in capsys.readouterr().err


def test_cooldown_plan_checks_each_parameter():
    with pytest.raises(ValueError, match=r"read_every_K = 0 K is outside the allowed range \[0.001, 50\] K"):
        CooldownPlan(read_every_K=0.0)
