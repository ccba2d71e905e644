"""Convergence diagnostics of MCMC traces: split-R̂, effective sample size, Geweke's z.

All functions take traces of shape (chains, draws) as NumPy arrays (float64) and return floats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["split_rhat", "ess", "geweke_z", "ChainSummary", "summarize_chains"]


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


@dataclass(frozen=True)
class ChainSummary:
    """The LLC summary of per-step draws nβ·(L_B(w_t) − L_B(w*)) of C chains.

    ``mean`` averages the per-chain means of the chains that stayed finite and did not run away;
    ``se`` is the larger of the pooled draws' SD/√ESS and the between-chain SD/√C, so that it
    covers the spread between chains even when the ESS is optimistic.
    """

    mean: float
    std: float
    se: float
    per_chain: np.ndarray
    divergent: tuple[int, ...]
    frac_below: float
    rhat: float
    ess: float
    geweke: float


def summarize_chains(draws: np.ndarray, runaway: float) -> ChainSummary:
    """Summarize draws (C, T): a chain is divergent if non-finite or its mean > ``runaway``."""
    d = np.asarray(draws, dtype=np.float64)
    finite = np.isfinite(d).all(axis=1)
    with np.errstate(invalid="ignore"):
        per_chain = np.where(finite, d.mean(axis=1), np.nan)
    bad = ~finite | (finite & (per_chain > runaway))
    divergent = tuple(int(c) for c in np.nonzero(bad)[0])
    kept = d[~bad]
    if not len(kept):
        nan = float("nan")
        return ChainSummary(nan, nan, nan, per_chain, divergent, nan, nan, nan, nan)
    means = kept.mean(axis=1)
    c = len(kept)
    std = float(means.std(ddof=1)) if c > 1 else 0.0
    n_eff = ess(kept)
    se = float(kept.std(ddof=1) / np.sqrt(max(n_eff, 1.0))) if kept.size > 1 else float("nan")
    if c > 1:
        se = max(se, std / np.sqrt(c))
    rhat = split_rhat(kept) if c > 1 or kept.shape[1] >= 4 else float("nan")
    return ChainSummary(float(means.mean()), std, se, per_chain, divergent,
                        float((kept < 0).mean()), rhat, n_eff, geweke_z(kept))
