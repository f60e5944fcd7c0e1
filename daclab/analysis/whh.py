"""Upper critical field Hc2(T): Werthamer-Helfand-Hohenberg and Ginzburg-Landau forms.

Reduced variables (WHH 1966): t = T/Tc and hbar = (4/pi^2) Hc2(T) / (Tc |dHc2/dT|_Tc).
In the dirty limit with Maki parameter alpha and spin-orbit scattering lambda_so the line
Hc2(t) solves

    ln(1/t) = (1/2 + i lambda_so/(4g)) psi(1/2 + (hbar + lambda_so/2 + i g)/(2t))
            + (1/2 - i lambda_so/(4g)) psi(1/2 + (hbar + lambda_so/2 - i g)/(2t)) - psi(1/2),
    g = sqrt((alpha hbar)^2 - (lambda_so/2)^2)   (real or imaginary),

which is the closed form of the WHH Matsubara sum. For alpha = 0 it reduces to
ln(1/t) = psi(1/2 + hbar/(2t)) - psi(1/2), whatever lambda_so.

Reference: N. R. Werthamer, E. Helfand and P. C. Hohenberg, Phys. Rev. 147, 295 (1966).
"""

from __future__ import annotations

import functools

import numpy as np

from .constants import PAULI_T_PER_K, PHI0_WB, WHH_HBAR0, WHH_SLOPE_FACTOR

_T_MIN = 1e-7  # t -> 0 limit: corrections to hbar are O(t^2), so 1e-7 is exact in double
_HBAR_MAX = 0.2808  # just above exp(-gamma_E)/2: Pauli limiting only lowers hbar(t)

# Digamma by recurrence up to z + 8 and the Stirling series there; arguments here have
# Re z >= 1/2, so |z + 8| >= 8.5 and the series is exact to ~1e-15. scipy's complex digamma
# is up to a hundred times slower near |z| ~ 1, and the trigamma comes for free.
_SHIFT = 8
_PSI_SERIES = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)
_TRIGAMMA_SERIES = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6)


def _digamma_trigamma(z):
    """psi(z) and psi'(z) for real or complex z with Re z >= 1/2 (vectorised)."""
    psi = np.zeros_like(z)
    tri = np.zeros_like(z)
    for k in range(_SHIFT):
        inv = 1.0 / (z + k)
        psi -= inv
        tri += inv * inv
    w = z + _SHIFT
    inv2 = 1.0 / (w * w)
    s_psi = np.zeros_like(z)
    s_tri = np.zeros_like(z)
    for c_psi, c_tri in zip(reversed(_PSI_SERIES), reversed(_TRIGAMMA_SERIES)):  # Horner
        s_psi = (s_psi + c_psi) * inv2
        s_tri = (s_tri + c_tri) * inv2
    psi += np.log(w) - 0.5 / w - s_psi
    tri += 1.0 / w + 0.5 * inv2 + s_tri / w
    return psi, tri


_PSI_HALF = float(_digamma_trigamma(np.array(0.5))[0])


def _residual(hbar, t, alpha: float, lambda_so: float):
    """WHH residual F = [digamma terms] - psi(1/2) - ln(1/t) and its partials dF/dhbar, dF/dt.

    F < 0 below the Hc2 line (superconducting side), F > 0 above it.
    """
    hbar, t = np.broadcast_arrays(np.asarray(hbar, float), np.asarray(t, float))
    if alpha == 0.0:
        # Spin-orbit scattering alone has no effect without a Pauli term (g = i lambda_so/2).
        z = 0.5 + hbar / (2 * t)
        psi, tri = _digamma_trigamma(z)
        return psi - _PSI_HALF + np.log(t), tri / (2 * t), (1.0 - tri * (z - 0.5)) / t
    g = np.sqrt((alpha * hbar) ** 2 - (0.5 * lambda_so) ** 2 + 0j)
    z0 = 0.5 + (hbar + 0.5 * lambda_so) / (2 * t)
    # As g -> 0 the two terms merge into psi(z0) - lambda_so/(4t) psi'(z0): use that limit
    # where the split g/(2t) is so small that lambda_so/(4g) would lose precision.
    small = np.abs(g) / (2 * t) < 1e-5
    g = np.where(small, 1.0, g)
    g_h = alpha**2 * hbar / g
    weight = 0.5 + 1j * lambda_so / (4 * g)
    zp, zm = z0 + 1j * g / (2 * t), z0 - 1j * g / (2 * t)
    (psi_p, tri_p), (psi_m, tri_m) = _digamma_trigamma(zp), _digamma_trigamma(zm)
    # For real g the two terms are complex conjugates, for imaginary g both are real, so the
    # sum is real; g -> -g swaps the terms, so the branch of the root does not matter.
    s = weight * psi_p + (1 - weight) * psi_m
    s_h = (-1j * lambda_so * g_h / (4 * g * g) * (psi_p - psi_m)
           + (weight * tri_p * (1 + 1j * g_h) + (1 - weight) * tri_m * (1 - 1j * g_h)) / (2 * t))
    s_t = -(weight * tri_p * (zp - 0.5) + (1 - weight) * tri_m * (zm - 0.5)) / t
    psi0, tri0 = _digamma_trigamma(z0)
    # derivatives of the merged limit drop the psi'' term: Newton then only converges linearly
    s = np.where(small, psi0 - lambda_so / (4 * t) * tri0, s.real)
    s_h = np.where(small, tri0 / (2 * t), s_h.real)
    s_t = np.where(small, -tri0 * (z0 - 0.5) / t, s_t.real)
    return s - _PSI_HALF + np.log(t), s_h, s_t + 1.0 / t


def _newton_bracketed(fdf, x, lo, hi, xtol: float = 1e-14, maxiter: int = 60):
    """Vectorised Newton iteration kept inside brackets with f(lo) <= 0 < f(hi).

    A step that leaves the bracket is replaced by bisection, so convergence is guaranteed and
    usually quadratic (five to eight evaluations).
    """
    for _ in range(maxiter):
        f, df = fdf(x)
        lo = np.where(f <= 0, x, lo)
        hi = np.where(f > 0, x, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = x - f / df
        new = np.where((new >= lo) & (new <= hi), new, 0.5 * (lo + hi))
        done = np.abs(new - x) <= xtol
        x = new
        if np.all(done):
            break
    return x


def whh_reduced_field(t, alpha: float = 0.0, lambda_so: float = 0.0):
    """Reduced upper critical field hbar(t) of the dirty-limit WHH theory (dimensionless).

    Solves ln(1/t) = Re[(1/2 + i ls/(4g)) psi(1/2 + (hbar + ls/2 + i g)/(2t))
    + (1/2 - i ls/(4g)) psi(1/2 + (hbar + ls/2 - i g)/(2t))] - psi(1/2),
    g = sqrt((alpha hbar)^2 - (ls/2)^2), ls = lambda_so, for each t = T/Tc (WHH 1966, dirty
    limit with Pauli paramagnetism and spin-orbit scattering), where
    hbar = (4/pi^2) Hc2(T) / (Tc |dHc2/dT|_Tc). With alpha = 0 this is
    ln(1/t) = psi(1/2 + hbar/(2t)) - psi(1/2): hbar(1) = 0, hbar(0) = exp(-gamma_E)/2 = 0.28073.

    t: array-like, t >= 0 (t >= 1 gives 0; t = 0 gives the T -> 0 limit). alpha, lambda_so >= 0.
    Bracketed Newton on all t at once: about 1 ms for 200 points.
    """
    alpha, lambda_so = _check_spin_parameters(alpha, lambda_so)
    t = np.asarray(t, dtype=float)
    if np.any(t < 0):
        bad = float(t[t < 0].flat[0])
        raise ValueError(f"t={bad!r} is negative; the reduced temperature must be >= 0")
    flat = t.ravel()
    inside = (flat < 1.0) & np.isfinite(flat)
    out = np.where(np.isnan(flat), np.nan, 0.0)
    ti = np.maximum(flat[inside], _T_MIN)
    if ti.size:
        # The residual rises monotonically in hbar (every Matsubara term's denominator grows
        # with hbar for any alpha, lambda_so >= 0), so [0, _HBAR_MAX] holds the single root.
        def fdf(h):
            f, f_h, _ = _residual(h, ti, alpha, lambda_so)
            return f, f_h

        guess = WHH_HBAR0 * (1 - ti**2)  # close to the alpha = 0 curve
        lo, hi = np.zeros_like(ti), np.full_like(ti, _HBAR_MAX)
        out[inside] = _newton_bracketed(fdf, guess, lo, hi)
    return out.reshape(t.shape) if t.ndim else float(out[0])


def _check_spin_parameters(alpha, lambda_so):
    alpha, lambda_so = float(alpha), float(lambda_so)
    if not alpha >= 0:
        raise ValueError(f"alpha={alpha!r} must be >= 0 (Maki parameter)")
    if not lambda_so >= 0:
        raise ValueError(f"lambda_so={lambda_so!r} must be >= 0 (spin-orbit scattering)")
    return alpha, lambda_so


@functools.lru_cache(maxsize=64)
def _hbar_zero(alpha: float, lambda_so: float) -> float:
    return float(whh_reduced_field(0.0, alpha, lambda_so))


@functools.lru_cache(maxsize=64)
def _hbar_table(alpha: float, lambda_so: float):
    """hbar on a fixed t grid, to find the bracketing cell when inverting Hc2(T)."""
    t = np.linspace(0.0, 1.0, 257)
    hbar = whh_reduced_field(t, alpha, lambda_so)
    hbar.flags.writeable = False
    return t, hbar


def whh_hc2(temperature_K, tc_K: float, hc2_0_T: float, alpha: float = 0.0, lambda_so: float = 0.0):
    """WHH upper critical field mu0 Hc2(T) in T, normalised so that mu0 Hc2(0) = hc2_0_T.

    mu0 Hc2(T) = hc2_0_T * hbar(T/Tc) / hbar(0), with hbar from whh_reduced_field
    (WHH 1966). Zero for T >= Tc. temperature_K and tc_K in K. The initial slope at Tc is then
    dHc2/dT = -hc2_0_T / (WHH_SLOPE_FACTOR * Tc) for alpha = 0.
    """
    alpha, lambda_so = _check_spin_parameters(alpha, lambda_so)
    t = np.asarray(temperature_K, dtype=float) / float(tc_K)
    return hc2_0_T * whh_reduced_field(t, alpha, lambda_so) / _hbar_zero(alpha, lambda_so)


def whh_tc_of_field(H_T, tc_K: float, hc2_0_T: float, alpha: float = 0.0,
                    lambda_so: float = 0.0):
    """Transition temperature Tc(H) in K on the WHH line: the inverse of whh_hc2.

    Solves whh_hc2(T) = |H| for T (WHH 1966). Tc(0) = tc_K; 0 where |H| exceeds the largest
    Hc2 of the curve (= hc2_0_T for alpha = 0). If alpha makes Hc2(T) non-monotonic, the
    higher-temperature solution is returned (the transition met first on cooling in field).
    H_T in T (sign ignored), vectorised.
    """
    alpha, lambda_so = _check_spin_parameters(alpha, lambda_so)
    target = np.abs(np.asarray(H_T, dtype=float)) / hc2_0_T * _hbar_zero(alpha, lambda_so)
    flat = target.ravel()
    t_grid, h_grid = _hbar_table(alpha, lambda_so)
    # last grid cell (from the top in t) whose left end still has hbar >= target
    ok = h_grid[None, :] >= flat[:, None]
    cell = len(t_grid) - 1 - np.argmax(ok[:, ::-1], axis=1)
    reachable = ok.any(axis=1) & (flat > 0)
    cell = np.minimum(cell, len(t_grid) - 2)
    lo = np.maximum(t_grid[cell], _T_MIN)
    hi = t_grid[cell + 1]

    def fdf(tt):  # residual <= 0 at lo (target below the line), > 0 at hi (above it)
        f, _, f_t = _residual(flat, tt, alpha, lambda_so)
        return f, f_t

    h_lo, h_hi = h_grid[cell], h_grid[cell + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        guess = lo + (hi - lo) * np.clip((h_lo - flat) / (h_lo - h_hi), 0.0, 1.0)
    t = _newton_bracketed(fdf, np.where(np.isfinite(guess), guess, 0.5 * (lo + hi)), lo, hi)
    t = np.where(reachable, t, np.where(flat > 0, 0.0, 1.0))
    t = np.where(np.isnan(flat), np.nan, t)
    tc = float(tc_K) * t
    return tc.reshape(target.shape) if target.ndim else float(tc[0])


def whh_hc2_zero_from_slope(tc_K: float, slope_T_per_K):
    """WHH estimate mu0 Hc2(0) = pi^2 exp(-gamma_E)/8 * Tc |dHc2/dT|_Tc = 0.69267 Tc |slope|, in T.

    Dirty limit without spin effects (WHH 1966). slope_T_per_K in T/K (either sign), Tc in K.
    """
    return WHH_SLOPE_FACTOR * tc_K * np.abs(slope_T_per_K)


def gl_hc2(temperature_K, tc_K: float, hc2_0_T: float):
    """Ginzburg-Landau form mu0 Hc2(T) = Hc2(0) (1 - t^2)/(1 + t^2), t = T/Tc, in T; 0 above Tc."""
    t2 = (np.asarray(temperature_K, dtype=float) / tc_K) ** 2
    return hc2_0_T * np.clip((1 - t2) / (1 + t2), 0.0, None)


def gl_tc_of_field(H_T, tc_K: float, hc2_0_T: float):
    """Inverse of gl_hc2: Tc(H) = Tc sqrt((1 - h)/(1 + h)), h = |H|/Hc2(0), in K; 0 for h >= 1."""
    h = np.clip(np.abs(np.asarray(H_T, dtype=float)) / hc2_0_T, 0.0, 1.0)
    return tc_K * np.sqrt((1 - h) / (1 + h))


def coherence_length_nm(hc2_0_T):
    """Ginzburg-Landau coherence length xi(0) = sqrt(Phi0 / (2 pi mu0 Hc2(0))) in nm.

    hc2_0_T is mu0 Hc2(0) in T; xi[nm] = 18.14 / sqrt(mu0 Hc2[T]).
    """
    return np.sqrt(PHI0_WB / (2 * np.pi * np.asarray(hc2_0_T, dtype=float))) * 1e9


def pauli_limit_T(tc_K):
    """Clogston-Chandrasekhar paramagnetic limit mu0 Hp(0) = 1.84 T/K * Tc, in T (weak coupling)."""
    return PAULI_T_PER_K * np.asarray(tc_K, dtype=float)
