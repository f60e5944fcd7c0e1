"""Point-contact Andreev reflection: BTK conductance with Dynes broadening and temperature.

Normal metal / s-wave superconductor contact with a delta barrier of strength Z
(G. E. Blonder, M. Tinkham and T. M. Klapwijk, Phys. Rev. B 25, 4515 (1982)). Quasiparticle
lifetime broadening Gamma enters as the complex energy E + i Gamma in the coherence factors
(A. Plecenik et al., Phys. Rev. B 49, 10016 (1994), after R. C. Dynes et al. 1978).
Energies and the gap in meV, bias in mV (eV in meV is numerically the bias in mV), T in K.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.fft import dct, idct, next_fast_len

from .constants import KB_MEV_PER_K

T_ZERO_K = 0.05
"""Below this temperature the thermal smearing (kT < 5 ueV) is skipped."""

_KERNEL_HALF_WIDTH_KT = 27.0  # the kernel weight beyond is 2 exp(-27) = 4e-12
_POINTS_PER_SCALE = 10  # grid steps per smallest smoothing scale (min(Gamma, pi kT))
_COARSE_POINTS_PER_SCALE = 4  # the same for btk_conductance_coarse
_GAP_RESOLUTION = 2e-3  # with Gamma ~ 0 the gap-edge singularity is resolved to 0.002 Delta
_MAX_GRID_POINTS = 2**17  # caps the grid (and the time) for extreme bias windows
_LARGEST_PLAIN_MEV = 1e100  # above this, sigma0's terms are computed on E : Gamma : Delta
_TRANSFORM_CUT = 45.0  # pi kT omega beyond which the kernel's transform (< 3e-18) is dropped


def btk_sigma0(E_meV, delta_meV, z, gamma_meV=0.0):
    """Normalised T = 0 conductance sigma0(E) = G/G_N = (1 + Z^2) [1 + A(E) - B(E)].

    Dynes-broadened BTK (BTK 1982; Plecenik et al. 1994): with w = E + i Gamma,
    s = sqrt(w^2 - Delta^2) on the branch with Re(s/w) >= 0, u^2 = (1 + s/w)/2,
    v^2 = (1 - s/w)/2, gamma = u^2 + Z^2 (u^2 - v^2),
    A = |u^2| |v^2| / |gamma|^2 (Andreev reflection),
    B = |u^2 - v^2|^2 Z^2 (1 + Z^2) / |gamma|^2 (normal reflection).
    For Gamma = 0 this is the piecewise real BTK result (inside the gap
    A = Delta^2 / [E^2 + (Delta^2 - E^2)(1 + 2Z^2)^2], B = 1 - A), exact also at E = 0 and
    |E| = Delta. Limits: 2 inside the gap for Z = 0, -> 1 for |E| >> Delta, -> the Dynes
    density of states |Re(w/s)| for Z >> 1. Even in E.

    Evaluated in closed form: multiplying A and B through by 4|w|^2, with |w + s||w - s| =
    |w^2 - s^2| = Delta^2 and k = 1 + 2Z^2, A = Delta^2 / D and B = (k^2 - 1) |s|^2 / D with
    D = |w + k s|^2 = |w|^2 + k^2 |s|^2 + 2 k Re(s w*), so
    sigma0 = (1 + Z^2) (|w|^2 + |s|^2 + Delta^2 + 2 k Re(s w*)) / D.
    Every term is >= 0 on the physical branch, so nothing cancels (also not in the tunnel
    limit), and only w = s = 0 (no gap, E = 0: a normal metal, sigma0 = 1) is left undefined.

    E_meV: energies (meV, array-like); delta_meV: gap (meV); z: barrier strength;
    gamma_meV: Dynes broadening (meV, >= 0). Broadcasts over all arguments.
    """
    return _sigma0_from_terms(_QuasiparticleTerms.of(E_meV, delta_meV, gamma_meV), z)


class _QuasiparticleTerms(NamedTuple):
    """The parts of sigma0 that do not depend on Z (see btk_sigma0), w = E + i Gamma,
    s = sqrt(w^2 - Delta^2) on the physical branch."""

    sum_of_squares: np.ndarray  # |w|^2 + |s|^2 + Delta^2
    w_squared: np.ndarray  # |w|^2
    s_squared: np.ndarray  # |s|^2
    s_dot_w: np.ndarray  # Re(s w*) >= 0
    undefined: np.ndarray | None  # where w = s = 0 (no gap, E = 0); None if nowhere

    @classmethod
    def of(cls, E_meV, delta_meV, gamma_meV) -> _QuasiparticleTerms:
        energy = np.abs(np.asarray(E_meV, dtype=float))  # sigma0 is even in E
        delta = np.abs(np.asarray(delta_meV, dtype=float))
        gamma = np.asarray(gamma_meV, dtype=float)
        if np.any(gamma < 0):
            raise ValueError(f"gamma_meV={gamma_meV!r} must be >= 0")
        if max(energy.max(initial=0.0), gamma.max(initial=0.0), delta.max(initial=0.0)) > _LARGEST_PLAIN_MEV:
            # the squares would overflow; sigma0 depends on E : Gamma : Delta only
            scale = np.maximum(np.maximum(energy, gamma), delta)
            scale = np.where(scale > 0, scale, 1.0)
            energy, gamma, delta = energy / scale, gamma / scale, delta / scale
        delta2 = delta * delta
        # s^2 = w^2 - Delta^2 = a + i b and |s|^2 = |a + i b|. The root is taken in real
        # arithmetic: the larger of |Re s|, |Im s| is r = sqrt((|s|^2 + |a|)/2), the smaller
        # |b|/(2r), which avoids the cancellation of the textbook formula. With E, Gamma >= 0
        # the physical branch (Re(s/w) >= 0, decaying quasiparticle states) gives
        # Re(s w*) = E |Re s| + Gamma |Im s| = E (r + Gamma^2/r) for a >= 0 and
        # Gamma (r + E^2/r) for a < 0. Written so that no intermediate exceeds ~E^2.
        e2, g2 = energy * energy, gamma * gamma
        a = e2 - (g2 + delta2)
        s_squared = np.hypot(a, (2.0 * gamma) * energy)
        r = np.sqrt(0.5 * (s_squared + np.abs(a)))
        w_squared = e2 + g2
        # r = 0 only where s = 0: at E = Delta with Gamma = 0, where Re(s w*) = E Gamma^2 / r
        # is 0 (any divisor gives that), or with E = Gamma = Delta = 0, where sigma0 is 0/0
        vanishing = r == 0
        r_divisor, undefined = r, None
        if vanishing.any():
            r_divisor = np.where(vanishing, 1.0, r)
            undefined = vanishing & (w_squared == 0)
            undefined = undefined if undefined.any() else None
        s_dot_w = np.where(a >= 0, energy * (r + g2 / r_divisor), gamma * (r + e2 / r_divisor))
        return cls(w_squared + s_squared + delta2, w_squared, s_squared, s_dot_w, undefined)


def _sigma0_from_terms(terms: _QuasiparticleTerms, z) -> np.ndarray:
    """sigma0 = (1 + Z^2)(|w|^2 + |s|^2 + Delta^2 + 2k Re(s w*)) / (|w|^2 + k^2 |s|^2 + 2k Re(s w*))."""
    z2 = np.asarray(z, dtype=float) ** 2
    k = 1.0 + 2.0 * z2
    cross = (2.0 * k) * terms.s_dot_w
    numerator = (1.0 + z2) * (terms.sum_of_squares + cross)
    denominator = terms.w_squared + (k * k) * terms.s_squared + cross
    if terms.undefined is None:
        return numerator / denominator
    # 0/0 only with w = s = 0, a normal metal at E = 0
    return np.divide(numerator, denominator, out=np.ones(np.shape(numerator)),
                     where=~np.broadcast_to(terms.undefined, np.shape(numerator)))


def btk_conductance(bias_mV, delta_meV, z, gamma_meV=0.0, temperature_K=0.0):
    """Normalised differential conductance G(V)/G_N of a BTK contact at temperature T.

    G(V)/G_N = integral sigma0(E) K(E - eV) dE, K(x) = (1/(4 kB T)) sech^2(x/(2 kB T))
    (BTK 1982, with the Dynes-broadened sigma0 of btk_sigma0). sigma0 is sampled once on a
    uniform energy grid that covers max|V| plus 27 kB T, convolved with the kernel by a pair
    of fast cosine transforms and read off at each V by cubic interpolation: ~0.2 ms for 1000
    biases, and within a few 1e-6 of per-point quadrature for Gamma > 0 (Z up to 4; 1e-8 once
    kT is several times Gamma). With Gamma = 0 the gap-edge singularity is
    sampled at 0.002 Delta: ~1e-4 for Z < 1, ~1e-3 at Z = 3 and worse in the tunnel limit,
    so fits should keep Gamma > 0. Below T_ZERO_K the T = 0 result sigma0(eV) is returned.

    bias_mV: bias values in mV, any order and spacing; delta_meV, gamma_meV in meV; z barrier
    strength; temperature_K in K. delta_meV, z and gamma_meV may also be 1-D arrays of one
    length (numbers are repeated): one curve per entry, the rows of the result, all on one
    energy grid fine enough for the narrowest. A scan over Z alone also shares the Z-independent
    part of sigma0 and costs little more than one curve.
    """
    return _smeared_btk(bias_mV, delta_meV, z, gamma_meV, temperature_K, _POINTS_PER_SCALE)


def btk_conductance_coarse(bias_mV, delta_meV, z, gamma_meV, temperature_K):
    """btk_conductance on an energy grid 2.5 times coarser, to rank starting values of a fit.

    4 instead of 10 grid steps per smallest smoothing scale min(Gamma, pi kB T): the cubic
    read-off at V then limits the accuracy to ~1e-4 of btk_conductance (found for Delta
    5-60 meV, Gamma 0.02-0.15 Delta, Z 0-4, 1-300 K), far below the noise of a measured
    curve, at a third of the time when Gamma or kT is small. Same arguments, also as arrays.
    """
    return _smeared_btk(bias_mV, delta_meV, z, gamma_meV, temperature_K, _COARSE_POINTS_PER_SCALE)


def _smeared_btk(bias_mV, delta_meV, z, gamma_meV, temperature_K, points_per_scale: int):
    """btk_conductance with the grid density as a parameter; 1-D parameters give one row each."""
    values = {"delta_meV": delta_meV, "z": z, "gamma_meV": gamma_meV}
    arrays = {name: np.asarray(value, dtype=float) for name, value in values.items()}
    for name, array in arrays.items():
        if array.ndim > 1:
            raise ValueError(f"{name} has shape {array.shape}; it must be a number or a 1-D array")
    try:
        np.broadcast(*arrays.values())
    except ValueError:
        shapes = ", ".join(f"{name} {array.shape}" for name, array in arrays.items())
        raise ValueError(f"the parameter arrays must have one length; got {shapes}") from None
    # parameters as columns, energies along the rows
    delta, z_column, gamma = (a[:, None] if a.ndim == 1 else a for a in arrays.values())

    def sigma(energy):
        return _sigma0_from_terms(_QuasiparticleTerms.of(energy, delta, gamma), z_column)

    return _thermal_average(bias_mV, sigma, temperature_K, _resolution(gamma, delta), points_per_scale)


def btk_two_gap(V_mV, delta1_meV, delta2_meV, weight, z, gamma_meV, T_K):
    """Two-band BTK conductance G/G_N = w G(Delta1) + (1 - w) G(Delta2), at temperature T.

    Parallel conduction into two gaps (e.g. MgB2, multi-phase hydride samples) with a common
    barrier Z and broadening Gamma; weight w in [0, 1] is the share of the first band.
    Units as btk_conductance. Both bands are smeared by the same single convolution.
    """
    w = float(weight)
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"weight={weight!r} is outside the allowed range [0, 1]")

    def sigma(e):
        return (w * btk_sigma0(e, delta1_meV, z, gamma_meV)
                + (1 - w) * btk_sigma0(e, delta2_meV, z, gamma_meV))

    return _thermal_average(V_mV, sigma, T_K,
                            _resolution(gamma_meV, min(abs(delta1_meV), abs(delta2_meV))))


def thermal_kernel(x_meV, T_K):
    """Derivative of the Fermi function, -df/dE = (1/(4 kB T)) sech^2(E/(2 kB T)), in 1/meV.

    Written with exp(-|x|/kT) so it cannot overflow; integrates to 1 over x.
    """
    kt = KB_MEV_PER_K * float(T_K)
    e = np.exp(-np.abs(np.asarray(x_meV, dtype=float)) / kt)
    return e / (kt * (1 + e) ** 2)


def _thermal_kernel_transform(omega_per_meV, T_K):
    """Fourier transform of thermal_kernel: integral K(x) exp(-i omega x) dx = y / sinh(y),
    y = pi kB T omega (real and even, 1 at omega = 0). Written with exp(-|y|) so it cannot
    overflow."""
    y = np.abs(np.pi * KB_MEV_PER_K * float(T_K) * np.asarray(omega_per_meV, dtype=float))
    # y / sinh(y) = 2 y exp(-y) / (1 - exp(-2y)); its limit at y = 0 is 1
    return np.divide(2.0 * y * np.exp(-y), -np.expm1(-2.0 * y), out=np.ones_like(y), where=y > 0)


def _resolution(gamma_meV, delta_meV) -> float:
    """Narrowest feature of sigma0 in meV: Gamma, or a small fraction of the gap if Gamma ~ 0
    (of the narrowest curve, for arrays of parameters)."""
    if np.ndim(gamma_meV) == 0 and np.ndim(delta_meV) == 0:
        return max(float(gamma_meV), _GAP_RESOLUTION * abs(float(delta_meV)))
    return float(np.min(np.maximum(gamma_meV, _GAP_RESOLUTION * np.abs(delta_meV))))


def _thermal_average(V_mV, sigma_of_energy, T_K, resolution_meV,
                     points_per_scale: int = _POINTS_PER_SCALE):
    """Convolve sigma0 with the thermal kernel on one uniform grid; evaluate at V_mV.

    sigma_of_energy must be even in E (every BTK sigma0 is) and may return one curve per row.
    """
    bias = np.asarray(V_mV, dtype=float)
    temperature = float(T_K)
    if temperature < 0:
        raise ValueError(f"T_K={T_K!r} must be >= 0")
    if temperature < T_ZERO_K or bias.size == 0:
        return sigma_of_energy(bias)
    kt = KB_MEV_PER_K * temperature
    v_max = max(float(np.max(bias)), -float(np.min(bias)))
    half_kernel = _KERNEL_HALF_WIDTH_KT * kt
    # Both factors of the integrand are analytic in a strip: the kernel has poles at
    # Im E = pi kT, sigma0 branch points at Im E = Gamma. A uniform sum then converges
    # exponentially once the step is a fraction of the narrower strip. (With Gamma = 0 the
    # gap-edge singularity limits the accuracy to ~1e-3 for Z ~ 3 at 20 K.)
    scale = min(np.pi * kt, resolution_meV) if resolution_meV > 0 else np.pi * kt
    step = scale / points_per_scale
    step = max(step, 2 * (v_max + half_kernel) / _MAX_GRID_POINTS)
    n_out = math.ceil(v_max / step) + 2  # two spare points for the cubic stencil
    # Both sigma0 and the kernel are even, so the convolution is one of even sequences: a
    # DCT-I over the energies 0 .. n_last * step, with sigma0 computed on that half only. The
    # DCT treats the curve as periodic with period 2 n_last * step; with n_last >= n_out plus
    # the kernel's half width, a periodic image is farther than 27 kT from every output point.
    # The kernel enters through its exact transform, so it needs no sampling and no
    # normalisation (a flat sigma0 stays flat: the transform is 1 at zero frequency); a
    # sampled kernel would differ by its aliases, ~exp(-2 pi^2 kT / step), < 1e-26 at 10
    # steps per pi kT. n_last is a fast FFT length.
    n_last = next_fast_len(n_out + math.ceil(half_kernel / step), real=True)
    energies = np.arange(n_last + 1) * step
    transform = dct(sigma_of_energy(energies), type=1, axis=-1)
    # the DCT-I's angular frequencies are pi k / (n_last step); beyond the cut the kernel's
    # transform is below 3e-18 and those terms are dropped
    omega_step = np.pi / (n_last * step)
    n_kept = min(n_last + 1, int(_TRANSFORM_CUT / (np.pi * kt * omega_step)) + 1)
    transform[..., :n_kept] *= _thermal_kernel_transform(omega_step * np.arange(n_kept), T_K)
    transform[..., n_kept:] = 0.0
    smeared = idct(transform, type=1, axis=-1)  # G at energies 0 .. n_last steps
    return _cubic_uniform_even(step, smeared, bias)


def _cubic_uniform_even(step, y, xq):
    """Four-point Lagrange interpolation at xq of an even function sampled as y[..., k] at
    k * step, k >= 0 (the node at -step is the one at +step). Needs |xq| <= (len(y) - 3) step."""
    s = np.abs(np.asarray(xq, dtype=float)) / step
    base = s.astype(np.intp)  # the node at or below s (s >= 0, so truncation is floor)
    t = s - base  # in [0, 1): nodes at t = -1, 0, 1, 2
    tp, tm, tmm = t + 1, t - 1, t - 2
    third = t * tm * (1 / 6)
    half = tp * tmm * 0.5
    return ((-tmm * third) * np.take(y, np.abs(base - 1), axis=-1)
            + (half * tm) * np.take(y, base, axis=-1)
            - (half * t) * np.take(y, base + 1, axis=-1)
            + (tp * third) * np.take(y, base + 2, axis=-1))
