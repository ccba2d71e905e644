"""Convergence diagnostics of MCMC traces: split-R̂, effective sample size, Geweke's z.

All functions take traces of shape (chains, draws) as NumPy arrays (float64) and return floats.
"""

from __future__ import annotations

import numpy as np

__all__ = ["split_rhat", "ess", "geweke_z"]


def split_rhat(traces: np.ndarray) -> float:
    """Split-R̂ of Gelman et al., *Bayesian Data Analysis* 3rd ed. (2013), §11.4, eq. 11.4.

    Each chain is cut in half, so a trend inside one chain counts as disagreement. Values near 1
    mean the chains agree; above ~1.1 they have not mixed. Returns NaN with fewer than 4 draws.
    """
    t = np.asarray(traces, dtype=np.float64)
    half = t.shape[1] // 2
    if half < 2:
        return float("nan")
    parts = np.concatenate([t[:, :half], t[:, -half:]], axis=0)
    m, n = parts.shape
    means = parts.mean(axis=1)
    w = parts.var(axis=1, ddof=1).mean()
    b = n * means.var(ddof=1)
    if w <= 0:
        return float("nan") if b > 0 else 1.0
    var_plus = (n - 1) / n * w + b / n
    return float(np.sqrt(var_plus / w))


def _autocorr(x: np.ndarray) -> np.ndarray:
    n = x.size
    x = x - x.mean()
    f = np.fft.rfft(x, n=2 * n)
    ac = np.fft.irfft(f * np.conj(f))[:n]
    return ac / ac[0] if ac[0] > 0 else np.ones(1)


def ess(traces: np.ndarray) -> float:
    """Effective sample size, summed over chains.

    Per chain, τ = 1 + 2Σρ_k truncated by Geyer's initial positive sequence (Geyer 1992, Stat.
    Sci. 7, §3.3): pairs ρ_{2m} + ρ_{2m+1} are summed while positive. ESS = Σ_chains n/τ.
    """
    t = np.asarray(traces, dtype=np.float64)
    total = 0.0
    for x in t:
        n = x.size
        if n < 4:
            total += n
            continue
        rho = _autocorr(x)
        if rho.size == 1:  # a constant chain: every draw the same, one effective sample
            total += 1.0
            continue
        tau = -1.0
        for m in range(0, n - 1, 2):
            pair = rho[m] + rho[m + 1]
            if pair <= 0:
                break
            tau += 2 * pair
        total += n / max(tau, 1e-12) if tau > 0 else n
    return float(total)


def geweke_z(traces: np.ndarray, first: float = 0.1, last: float = 0.5) -> float:
    """Geweke's (1992) z-score: the first 10% against the last 50% of the pooled draws.

    Means are averaged over chains; their standard errors come from :func:`ess`. |z| ≲ 2 means
    the trace had stabilized; a large |z| means it still drifted after burn-in.
    """
    t = np.asarray(traces, dtype=np.float64)
    n = t.shape[1]
    a, b = t[:, : max(int(first * n), 2)], t[:, n - max(int(last * n), 2):]
    if a.shape[1] < 2 or n < 8:
        return float("nan")

    def mean_se(x: np.ndarray) -> tuple[float, float]:
        return float(x.mean()), float(x.std(ddof=1) / np.sqrt(max(ess(x), 1.0)))

    ma, sa = mean_se(a)
    mb, sb = mean_se(b)
    denom = np.hypot(sa, sb)
    if denom == 0:
        return 0.0 if ma == mb else float("inf")
    return float((ma - mb) / denom)
