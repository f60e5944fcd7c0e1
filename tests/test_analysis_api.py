"""The stable public API of daclab.analysis: names and keyword arguments as documented."""

import inspect

import numpy as np
import pytest

import daclab.analysis as analysis
from daclab.analysis.pressure import pressure_from

SIGNATURES = {
    "btk_conductance": "(bias_mV, delta_meV, z, gamma_meV=0.0, temperature_K=0.0)",
    "whh_hc2": "(temperature_K, tc_K, hc2_0_T",
    "gl_hc2": "(temperature_K, tc_K, hc2_0_T)",
    "bcs_gap": "(temperature_K, tc_K, delta0_meV)",
    "jc_delta_l": "(temperature_K, tc_K, jc0)",
    "jc_delta_tc": "(temperature_K, tc_K, jc0)",
    "diamond_edge_pressure": "(nu_cm1, scale='akahama2006')",
    "ruby_pressure": "(lambda_nm, scale='ruby2020', temperature_K=None)",
    "figure_of_merit": "(tc_K, pressure_GPa)",
    "transition_temperatures": "(temperature_K, resistance_ohm)",
    "fit_hc2": "(temperature_K, field_T, model='whh'",
    "fit_jc": "(temperature_K, jc, model='delta_l')",
    "fit_btk": "(bias_mV, conductance, temperature_K",
    "fit_gap": "(temperature_K, delta_meV",
}


@pytest.mark.parametrize("name, signature", SIGNATURES.items())
def test_public_names_keep_their_documented_arguments(name, signature):
    parameters = inspect.signature(getattr(analysis, name)).parameters.values()
    text = "(" + ", ".join(p.name if p.default is p.empty else f"{p.name}={p.default!r}" for p in parameters
                           if p.kind is not p.KEYWORD_ONLY) + ")"
    assert text.startswith(signature), text


def test_pressure_helpers_agree_with_the_named_scales_and_refuse_the_wrong_kind():
    assert analysis.diamond_edge_pressure(1800.0) == pytest.approx(pressure_from("akahama2006", 1800.0))
    assert analysis.diamond_edge_pressure(1800.0, scale="eremets2023") < analysis.diamond_edge_pressure(1800.0)
    assert analysis.ruby_pressure(720.0, temperature_K=10.0) == pytest.approx(pressure_from("ruby2020", 720.0, 10.0))
    with pytest.raises(ValueError, match="scale='mao1986' reads the ruby R1 line, not the diamond Raman edge"):
        analysis.diamond_edge_pressure(1800.0, scale="mao1986")


def test_btk_defaults_are_zero_broadening_at_zero_temperature():
    bias = np.array([0.0, 5.0, 200.0])
    # at 200 mV ~ 10 Delta the Andreev excess has not quite died away: 1 + O((Delta/E)^2)
    assert analysis.btk_conductance(bias, 21.0, 0.0) == pytest.approx([2.0, 2.0, 1.0], abs=5e-3)
