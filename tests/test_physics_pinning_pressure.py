"""Pinning models, critical current geometry, pressure scales and the figure of merit."""

import dataclasses

import numpy as np
import pytest

from daclab.analysis.pinning import (
    critical_current_A,
    critical_current_density_A_cm2,
    jc_delta_l,
    jc_delta_tc,
)
from daclab.analysis.pressure import (
    PRESSURE_SCALES,
    PressureReading,
    diamond_edge_akahama2006,
    diamond_edge_akahama2010,
    diamond_edge_eremets2023,
    figure_of_merit,
    pressure_from,
    ruby_mao1986,
    ruby_shen2020,
    ruby_shift_datchi2007_nm,
    ruby_temperature_shift_nm,
)


def test_pinning_models_at_half_tc():
    assert jc_delta_l(50.0, 100.0, 1.0) == pytest.approx(0.436, abs=5e-4)
    assert jc_delta_tc(50.0, 100.0, 1.0) == pytest.approx(0.861, abs=5e-4)


def test_pinning_models_ends_and_arrays():
    T = np.array([0.0, 100.0, 130.0])
    assert np.allclose(jc_delta_l(T, 100.0, 4e6), [4e6, 0.0, 0.0])
    assert np.allclose(jc_delta_tc(T, 100.0, 4e6), [4e6, 0.0, 0.0])
    assert np.all(np.diff(jc_delta_l(np.linspace(0, 100, 50), 100.0, 1.0)) < 0)


def test_critical_current_of_paper_001_cross_section():
    assert critical_current_A(4e6, 30.0, 1.0) == pytest.approx(1.2)
    assert critical_current_density_A_cm2(0.074, 30.0, 1.0) == pytest.approx(2.4667e5, rel=1e-4)


def test_diamond_edge_scales():
    assert diamond_edge_akahama2006(1334.0) == 0.0
    x = 466.0 / 1334.0  # nu = 1800 cm-1, by hand: 547 x (1 + 1.375 x)
    assert diamond_edge_akahama2006(1800.0) == pytest.approx(547 * x * (1 + 1.375 * x))
    assert diamond_edge_akahama2006(1800.0) == pytest.approx(282.86, abs=0.01)
    assert diamond_edge_eremets2023(1332.5) == 0.0
    # Eremets 2023 reads 2-3 % below AK2006 at ~200 GPa
    ratio = diamond_edge_eremets2023(1700.0) / diamond_edge_akahama2006(1700.0)
    assert 0.96 < ratio < 0.99
    # AK2010 (fitted above 200 GPa) agrees with AK2006 within a few % at ~280 GPa
    assert diamond_edge_akahama2010(1800.0) == pytest.approx(288.36, abs=0.01)
    assert diamond_edge_akahama2010(1800.0) == pytest.approx(diamond_edge_akahama2006(1800.0),
                                                              rel=0.03)
    assert np.allclose(diamond_edge_akahama2006(np.array([1334.0, 1800.0])), [0.0, 282.86],
                       atol=0.01)


def test_ruby_scales():
    assert ruby_mao1986(694.24) == 0.0
    assert ruby_shen2020(694.25) == 0.0
    # the two ruby scales agree at 10 GPa (697.9 nm) within 0.2 GPa
    assert ruby_mao1986(697.9) == pytest.approx(ruby_shen2020(697.9), abs=0.2)
    assert ruby_mao1986(697.9) == pytest.approx(10.2, abs=0.1)


def test_ruby_temperature_correction():
    assert ruby_shift_datchi2007_nm(296.0) == 0.0
    assert ruby_temperature_shift_nm(296.0) == 0.0
    dT = 304.0  # 600 K, by hand from the Datchi 2007 cubic
    assert ruby_shift_datchi2007_nm(600.0) == pytest.approx(
        0.00746 * dT - 3.01e-6 * dT**2 + 8.76e-9 * dT**3)
    # R1 sits near 693.3 nm at helium temperature, ~0.9 nm below its room-temperature line
    assert -1.0 < ruby_temperature_shift_nm(4.0) < -0.8
    assert pressure_from("ruby2020", 693.31, T_K=4.0) == pytest.approx(0.0, abs=0.2)
    with pytest.raises(ValueError, match="296"):
        ruby_shift_datchi2007_nm(4.0)


def test_figure_of_merit():
    assert figure_of_merit(39.0, 0.0) == 1.0
    assert figure_of_merit(176.0, 100.0) == pytest.approx(1.6, abs=0.05)
    assert figure_of_merit(203.0, 155.0) == pytest.approx(1.27, abs=0.01)


def test_registry_and_reading_keep_the_scale_name():
    assert set(PRESSURE_SCALES) == {"akahama2006", "eremets2023", "akahama2010", "mao1986",
                                    "ruby2020"}
    assert pressure_from("akahama2006", 1800.0) == diamond_edge_akahama2006(1800.0)
    assert pressure_from("mao1986", 720.0, T_K=296.0) == ruby_mao1986(720.0)
    reading = PressureReading.from_reading("eremets2023", 1700.0)
    assert reading.scale == "eremets2023" and reading.unit == "cm-1"
    assert reading.gpa == pytest.approx(diamond_edge_eremets2023(1700.0))
    assert "eremets2023" in str(reading)
    with pytest.raises(dataclasses.FrozenInstanceError):
        reading.gpa = 0.0


def test_nonsense_input_is_refused_with_a_helpful_message():
    with pytest.raises(ValueError, match=r"nu_cm1=-5.0 cm-1 .*\[1200, 2600\]"):
        diamond_edge_akahama2006(-5.0)
    with pytest.raises(ValueError, match="known: akahama2006"):
        pressure_from("ak2006", 1800.0)
    with pytest.raises(ValueError, match="lambda_nm=1334.0"):
        ruby_mao1986(1334.0)  # a wavenumber given to a ruby scale
    with pytest.raises(ValueError, match="nu_cm1=nan"):
        diamond_edge_eremets2023([1500.0, float("nan")])
    with pytest.raises(ValueError, match="1455"):
        diamond_edge_akahama2010(1400.0)
    with pytest.raises(ValueError, match="pressure_GPa"):
        figure_of_merit(100.0, -3.0)
