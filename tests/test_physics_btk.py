"""BTK conductance against the piecewise real BTK formulas, Plecenik's complex coherence
factors, known limits, per-point quadrature of the thermal integral (also for the coarse grid
that ranks a fit's starting values), and the excess-current sum rule."""

import math

import numpy as np
import pytest
from scipy.integrate import quad

from daclab.analysis.btk import (
    btk_conductance,
    btk_conductance_coarse,
    btk_sigma0,
    btk_two_gap,
    thermal_kernel,
)
from daclab.analysis.constants import KB_MEV_PER_K
from test_analysis_gap_fit import reference_sigma0  # Plecenik with complex coherence factors (cmath)

DELTA = 21.0  # meV, CeH9 (paper 001)


def real_btk_sigma0(E, delta, z):
    """BTK 1982 Table II, Gamma = 0, written piecewise as in the paper."""
    E = abs(E)
    z2 = z * z
    if E < delta:
        a = delta**2 / (E**2 + (delta**2 - E**2) * (1 + 2 * z2) ** 2)
        b = 1 - a
    else:
        u2 = 0.5 * (1 + math.sqrt((E**2 - delta**2) / E**2))
        v2 = 1 - u2
        g = u2 + (u2 - v2) * z2
        a = u2 * v2 / g**2
        b = (u2 - v2) ** 2 * z2 * (1 + z2) / g**2
    return (1 + z2) * (1 + a - b)


def test_andreev_doubling_inside_gap_for_transparent_contact():
    E = np.linspace(-0.999, 0.999, 201) * DELTA
    assert np.allclose(btk_sigma0(E, DELTA, 0.0, 0.0), 2.0, atol=1e-9)
    assert btk_sigma0(0.0, DELTA, 0.0) == pytest.approx(2.0, abs=1e-12)


@pytest.mark.parametrize("z, tolerance", [(0.0, 1e-3), (0.5, 1e-3), (2.0, 1.3e-3)])
@pytest.mark.parametrize("gamma", [0.0, 1.0])
def test_normal_state_far_above_gap(z, tolerance, gamma):
    # at E = 20 Delta what is left is the BCS density-of-states tail, Delta^2/(2E^2) = 1.25e-3
    # for an opaque barrier, and the Andreev tail Delta^2/(4E^2) = 6e-4 for a transparent one
    assert btk_sigma0(20 * DELTA, DELTA, z, gamma) == pytest.approx(1.0, abs=tolerance)
    assert btk_sigma0(-20 * DELTA, DELTA, z, gamma) == pytest.approx(1.0, abs=tolerance)


@pytest.mark.parametrize("z", [0.0, 0.3, 0.7, 1.5])
def test_matches_piecewise_real_btk_without_broadening(z):
    E = np.concatenate([np.linspace(-3, 3, 301), [0.0, 0.5, 1.0001, -1.0001]]) * DELTA
    expected = [real_btk_sigma0(e, DELTA, z) for e in E]
    assert np.allclose(btk_sigma0(E, DELTA, z), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("z", [0.0, 0.5, 1.5, 5.0])
@pytest.mark.parametrize("gamma", [1e-6, 0.2, 3.0])
def test_broadened_sigma0_matches_the_complex_coherence_factors(z, gamma):
    rng = np.random.default_rng(4)
    E = np.concatenate([rng.uniform(-4, 4, 60) * DELTA, [0.0, DELTA, -DELTA, 0.999 * DELTA, 30 * DELTA]])
    expected = [reference_sigma0(e, DELTA, z, gamma) for e in E]
    # the reference's 1 + A - B loses ~(1 + Z^2) eps to cancellation; nothing cancels in btk_sigma0
    assert np.allclose(btk_sigma0(E, DELTA, z, gamma), expected, rtol=1e-10, atol=1e-13 * (1 + z * z))


def test_no_nan_at_zero_bias_and_gap_edges():
    E = np.array([0.0, DELTA, -DELTA, 0.0])
    for z in (0.0, 0.5, 5.0):
        values = btk_sigma0(E, DELTA, z, 0.0)
        assert np.all(np.isfinite(values))
    assert btk_sigma0(DELTA, DELTA, 0.0) == pytest.approx(2.0, abs=1e-12)  # A = 1 at the edge
    assert btk_sigma0(0.0, 0.0, 0.7) == pytest.approx(1.0)  # no gap: a normal contact
    assert np.allclose(btk_sigma0(np.linspace(-5, 5, 11), 0.0, 0.7, 0.3), 1.0)


def test_tunnel_limit_gives_bcs_and_dynes_density_of_states():
    z = 30.0
    E = np.array([1.2, 1.5, 2.0, 5.0]) * DELTA
    bcs = np.abs(E) / np.sqrt(E**2 - DELTA**2)
    assert np.allclose(btk_sigma0(E, DELTA, z), bcs, rtol=1e-2)
    assert btk_sigma0(0.3 * DELTA, DELTA, z) < 1e-3
    gamma = 0.1 * DELTA
    E = np.linspace(-3, 3, 121) * DELTA
    w = E + 1j * gamma
    dynes = np.abs((w / np.sqrt(w * w - DELTA**2)).real)
    assert np.allclose(btk_sigma0(E, DELTA, z, gamma), dynes, rtol=2e-2, atol=2e-3)


def test_broadened_conductance_is_continuous_and_even():
    def largest_jump(step):
        E = np.arange(-3 * DELTA, 3 * DELTA, step)
        return np.max(np.abs(np.diff(btk_sigma0(E, DELTA, 0.5, 1.0))))

    # a jump would stay the same size as the step shrinks; a continuous curve scales with it
    assert largest_jump(0.005) < 0.6 * largest_jump(0.01)
    for z in (0.0, 0.5, 3.0):
        for edge in (DELTA, -DELTA, 0.0):
            below, above = btk_sigma0([edge - 1e-9, edge + 1e-9], DELTA, z, 1.0)
            assert abs(above - below) < 1e-6
    E = np.linspace(0, 4 * DELTA, 97)
    assert np.allclose(btk_sigma0(E, DELTA, 0.5, 1.0), btk_sigma0(-E, DELTA, 0.5, 1.0),
                       atol=1e-12)


def test_excess_current_of_transparent_contact_is_four_thirds_delta():
    # BTK 1982: I_exc R_N = 4 Delta / 3e at Z = 0, i.e. integral_0^inf (sigma0 - 1) dE.
    inside = quad(lambda e: btk_sigma0(e, DELTA, 0.0) - 1, 0, DELTA)[0]
    outside = quad(lambda e: btk_sigma0(e, DELTA, 0.0) - 1, DELTA, np.inf, limit=200)[0]
    assert inside + outside == pytest.approx(4 * DELTA / 3, rel=1e-6)


def quad_conductance(v, delta, z, gamma, T):
    kt = KB_MEV_PER_K * T
    lo, hi = v - 40 * kt, v + 40 * kt
    points = [p for p in (-delta, delta, v) if lo < p < hi]
    return quad(lambda e: btk_sigma0(e, delta, z, gamma) * thermal_kernel(e - v, T), lo, hi,
                points=points, limit=400, epsabs=1e-12, epsrel=1e-12)[0]


def test_thermal_kernel_is_normalised():
    kt = KB_MEV_PER_K * 10.0
    assert quad(lambda x: thermal_kernel(x, 10.0), -60 * kt, 60 * kt)[0] == pytest.approx(1.0)
    assert thermal_kernel(0.0, 10.0) == pytest.approx(1 / (4 * kt))


@pytest.mark.parametrize("T", [2.0, 60.0])
def test_fft_conductance_matches_quadrature(T):
    V = np.linspace(-90.0, 90.0, 19)
    expected = [quad_conductance(v, DELTA, 0.5, 1.0, T) for v in V]
    got = btk_conductance(V, DELTA, 0.5, 1.0, T)
    assert np.max(np.abs(got - expected)) < 1e-5  # requirement: 1e-3


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")  # reference at edge
def test_conductance_without_broadening_is_still_close_to_quadrature():
    V = np.linspace(-60.0, 60.0, 13)
    expected = [quad_conductance(v, DELTA, 0.5, 0.0, 10.0) for v in V]
    assert np.max(np.abs(btk_conductance(V, DELTA, 0.5, 0.0, 10.0) - expected)) < 1e-3


def test_bias_order_spacing_and_symmetry():
    rng = np.random.default_rng(1)
    V = rng.uniform(-120, 120, 57)
    sorted_v = np.sort(V)
    G = btk_conductance(V, DELTA, 0.5, 1.0, 4.2)
    assert np.allclose(G[np.argsort(V)], btk_conductance(sorted_v, DELTA, 0.5, 1.0, 4.2))
    assert np.allclose(btk_conductance(-V, DELTA, 0.5, 1.0, 4.2), G, atol=1e-12)
    assert btk_conductance(np.array([]), DELTA, 0.5, 1.0, 4.2).size == 0


def test_parameter_arrays_give_one_curve_per_entry():
    V = np.linspace(-80.0, 80.0, 41)
    zs = np.array([0.0, 0.5, 3.0])
    rows = btk_conductance(V, DELTA, zs, 1.0, 10.0)
    assert rows.shape == (3, V.size)
    for z, row in zip(zs, rows):  # a scan over Z alone keeps the grid of the single curve
        assert np.allclose(row, btk_conductance(V, DELTA, z, 1.0, 10.0), rtol=0, atol=1e-14)
    # mixed arrays share the grid of the narrowest curve: equal to the accuracy of the model
    deltas, gammas = np.array([21.0, 15.0, 21.0]), np.array([1.0, 1.0, 2.5])
    rows = btk_conductance(V, deltas, 0.5, gammas, 10.0)
    for delta, gamma, row in zip(deltas, gammas, rows):
        expected = [quad_conductance(v, delta, 0.5, gamma, 10.0) for v in V[::8]]
        assert np.max(np.abs(row[::8] - expected)) < 1e-6
        assert np.max(np.abs(row - btk_conductance(V, delta, 0.5, gamma, 10.0))) < 1e-6
    assert btk_conductance(V, deltas, 0.5, gammas, 0.0).shape == (3, V.size)
    with pytest.raises(ValueError, match="delta_meV .2,., z .3,."):
        btk_conductance(V, [21.0, 15.0], [0.1, 0.2, 0.3], 1.0, 10.0)
    with pytest.raises(ValueError, match="gamma_meV has shape"):
        btk_conductance(V, DELTA, 0.5, [[1.0]], 10.0)


@pytest.mark.parametrize("T, gamma", [(2.0, 0.4), (10.0, 3.0)])
def test_coarse_conductance_is_within_2e_4_of_quadrature(T, gamma):
    # biases between grid nodes and at the coherence peaks, where the read-off errs most
    V = np.array([-27.316, -21.437, -13.952, -2.171, 8.643, 20.583, 24.129, 31.724])
    zs = np.array([0.0, 0.8, 4.0])
    for z, row in zip(zs, btk_conductance_coarse(V, DELTA, zs, gamma, T)):
        expected = [quad_conductance(v, DELTA, z, gamma, T) for v in V]
        assert np.max(np.abs(row - expected)) < 2e-4


def test_low_temperature_returns_zero_temperature_curve():
    V = np.linspace(-50, 50, 11)
    assert np.array_equal(btk_conductance(V, DELTA, 0.5, 1.0, 0.01), btk_sigma0(V, DELTA, 0.5, 1.0))


def test_thermal_smearing_conserves_spectral_weight():
    # integral (G - 1) dV does not change with T: the kernel only moves weight around
    V = np.linspace(-400, 400, 16001)
    cold = btk_sigma0(V, DELTA, 0.3, 0.5) - 1
    warm = btk_conductance(V, DELTA, 0.3, 0.5, 20.0) - 1
    assert np.trapezoid(warm, V) == pytest.approx(np.trapezoid(cold, V), rel=1e-4)
    # and warming lowers the zero-bias Andreev peak of a transparent contact
    assert btk_conductance(0.0, DELTA, 0.0, 0.0, 60.0) < btk_sigma0(0.0, DELTA, 0.0)


def test_two_gap_weights():
    V = np.linspace(-80, 80, 81)
    g1 = btk_conductance(V, 21.0, 0.5, 1.0, 5.0)
    g2 = btk_conductance(V, 8.0, 0.5, 1.0, 5.0)
    assert np.allclose(btk_two_gap(V, 21.0, 8.0, 1.0, 0.5, 1.0, 5.0), g1, atol=1e-9)
    assert np.allclose(btk_two_gap(V, 21.0, 8.0, 0.0, 0.5, 1.0, 5.0), g2, atol=1e-9)
    assert np.allclose(btk_two_gap(V, 21.0, 8.0, 0.3, 0.5, 1.0, 5.0), 0.3 * g1 + 0.7 * g2,
                       atol=1e-6)
    with pytest.raises(ValueError, match="weight=1.5"):
        btk_two_gap(V, 21.0, 8.0, 1.5, 0.5, 1.0, 5.0)
