"""Known learning coefficients: the exact values that LLC estimates are validated against.

Every function returns the real log canonical threshold λ of the model at a true parameter, as a
Python ``float``. Sources:

- Watanabe, *Algebraic Geometry and Statistical Learning Theory* (2009): regular models (λ = d/2,
  Thm 7.2 / remark 6.x) and normal crossings (Def. 2.7 / Thm 2.4: the largest pole of the zeta
  function ∫K(w)^z φ(w) dw).
- Aoyagi & Watanabe, "Stochastic complexities of reduced rank regression in Bayesian estimation",
  Neural Networks 18 (2005), Main Theorem.
- Aoyagi, "Consideration on the learning efficiency of multiple-layered neural networks with linear
  units", Neural Networks (2024), arXiv 2501.12747, Theorem 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from itertools import combinations

import numpy as np

from occamlab._check import check_int

__all__ = ["regular", "normal_crossing", "reduced_rank", "deep_linear"]


def regular(d: int) -> float:
    """λ = d/2 for a regular (identifiable, non-degenerate Fisher information) model.

    Arguments:
        d: the number of parameters.

    Returns:
        d/2 (Watanabe 2009, §1.4 / Thm 6.x: BIC's (d/2)·log n is F_n's complexity term).
    """
    d = check_int(d, "d", ge=1)
    return d / 2.0


def normal_crossing(k: Sequence[int], h: Sequence[int] | None = None) -> float:
    """λ of K(w) = Π wᵢ^{2kᵢ} with prior density ∝ Π |wᵢ|^{hᵢ} near the origin.

    Arguments:
        k: exponents kᵢ ≥ 0 of the average loss K (length d); at least one must be positive.
        h: prior exponents hᵢ ≥ 0 (default all 0: a prior positive at the origin).

    Returns:
        λ = minᵢ (hᵢ + 1)/(2kᵢ) over the i with kᵢ > 0 (Watanabe 2009, Thm 2.4 / Example 2.6:
        the largest pole of ∫ Π |wᵢ|^{2kᵢz + hᵢ} dw over a neighbourhood of 0).
    """
    k_arr = np.asarray(k)
    if k_arr.ndim != 1 or k_arr.size == 0 or not np.issubdtype(k_arr.dtype, np.integer):
        raise ValueError(f"k must be a non-empty sequence of integers, got {k!r}")
    if (k_arr < 0).any() or not (k_arr > 0).any():
        raise ValueError(f"k must be ≥ 0 with at least one positive entry, got {list(k_arr)}")
    h_arr = np.zeros_like(k_arr) if h is None else np.asarray(h)
    if h_arr.shape != k_arr.shape or not np.issubdtype(h_arr.dtype, np.integer):
        raise ValueError(f"h must be integers of the same length as k ({k_arr.size}), got {h!r}")
    if (h_arr < 0).any():
        raise ValueError(f"h must be ≥ 0, got {list(h_arr)}")
    pos = k_arr > 0
    return float(np.min((h_arr[pos] + 1) / (2 * k_arr[pos])))


def _check_dims(names: Sequence[str], values: Sequence[int]) -> list[int]:
    return [check_int(v, n, ge=1) for n, v in zip(names, values, strict=True)]


def reduced_rank(M: int, H: int, N: int, r: int) -> float:  # noqa: N803 (the paper's names)
    """λ of reduced-rank regression y = B·A·x (A: H×M, B: N×H) at a true map of rank r.

    Arguments:
        M: input dimension.  H: hidden (inner) dimension.  N: output dimension.
        r: rank of the true map, 0 ≤ r ≤ min(M, H, N).

    Returns:
        λ from Aoyagi & Watanabe (2005), Main Theorem:
        if N+r ≤ M+H, M+r ≤ N+H, H+r ≤ M+N: [2(H+r)(M+N) − (M−N)² − (H+r)²]/8, plus 1/8 when
        M+H+N+r is odd; if M+H < N+r: (HM − Hr + Nr)/2; if N+H < M+r: (HN − Hr + Mr)/2;
        otherwise (M+N < H+r): MN/2.
    """
    M, H, N = _check_dims(("M", "H", "N"), (M, H, N))
    if isinstance(r, bool) or not isinstance(r, int | np.integer) or not 0 <= r <= min(M, H, N):
        raise ValueError(f"rank r must be an integer in [0, min(M, H, N)] = [0, {min(M, H, N)}], "
                         f"got {r!r}")
    if N + r <= M + H and M + r <= N + H and H + r <= M + N:
        lam = (2 * (H + r) * (M + N) - (M - N) ** 2 - (H + r) ** 2) / 8
        if (M + H + N + r) % 2 == 1:
            lam += 1 / 8
        return float(lam)
    if M + H < N + r:
        return (H * M - H * r + N * r) / 2
    if N + H < M + r:
        return (H * N - H * r + M * r) / 2
    return M * N / 2


def deep_linear(widths: Sequence[int], rank: int) -> float:
    """λ of a deep linear network x ↦ W_L ⋯ W_1 x at a true product of rank ``rank``.

    Arguments:
        widths: H₁ … H_{L+1}: input dimension, hidden widths, output dimension (L ≥ 1 layers).
        rank: r, the rank of the true product, 0 ≤ r ≤ min(widths).

    Returns:
        λ from Aoyagi (2024), Theorem 1: with Δᵢ = Hᵢ − r, take Σ ⊂ {1..L+1}, |Σ| = ℓ+1, with
        max_Σ Δ < min_{not Σ} Δ, Σ_Σ Δ ≥ ℓ·max_Σ Δ and Σ_Σ Δ < ℓ·min_{not Σ} Δ; with
        S = Σ_Σ Δ and a = S − ℓ(⌈S/ℓ⌉ − 1),
        λ = [−r² + r(H₁ + H_{L+1})]/2 + a(ℓ−a)/(4ℓ) − ℓ(ℓ−1)/4·(S/ℓ)² + ½Σ_{i<j∈Σ} ΔᵢΔⱼ.
        For one layer (widths [M, N]) the model is regular: λ = MN/2. For two layers it equals
        :func:`reduced_rank`.
    """
    if isinstance(widths, str | bytes) or not isinstance(widths, Sequence | np.ndarray):
        raise TypeError(f"widths must be a sequence of integers, got {type(widths).__name__}")
    if len(widths) < 2:
        raise ValueError(f"widths must list input, hidden and output sizes (≥ 2), got {widths!r}")
    hs = _check_dims([f"widths[{i}]" for i in range(len(widths))], list(widths))
    if isinstance(rank, bool) or not isinstance(rank, int | np.integer) or not 0 <= rank <= min(hs):
        raise ValueError(f"rank must be an integer in [0, min(widths)] = [0, {min(hs)}], "
                         f"got {rank!r}")
    r = int(rank)
    if len(hs) == 2:
        return hs[0] * hs[1] / 2
    delta = [h - r for h in hs]
    # Exact rational arithmetic: the formula's terms cancel, and floats would leave 4.4999….
    base = Fraction(-r * r + r * (hs[0] + hs[-1]), 2)
    idx = range(len(hs))
    for size in range(2, len(hs) + 1):
        ell = size - 1
        for sigma in combinations(idx, size):
            rest = [delta[i] for i in idx if i not in sigma]
            d_in = [delta[i] for i in sigma]
            s = sum(d_in)
            lo_rest = min(rest) if rest else math.inf
            if not (max(d_in) < lo_rest and s >= ell * max(d_in) and s < ell * lo_rest):
                continue
            a = s - ell * (math.ceil(s / ell) - 1)
            pairs = sum(x * y for x, y in combinations(d_in, 2))
            return float(base + Fraction(a * (ell - a), 4 * ell)
                         - Fraction(ell * (ell - 1), 4) * Fraction(s, ell) ** 2
                         + Fraction(pairs, 2))
    raise ValueError(f"no index set Σ satisfies Aoyagi's conditions for widths={hs}, rank={r}")
