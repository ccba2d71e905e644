"""Calibration of the LLC sampler: the sweep over step size, nβ and localization done by hand.

Lau et al. (arXiv 2308.12108, §5 and App. E) and the devinterp guides pick ε and γ where the
estimate is flat in ε and no chain diverges: too large an ε inflates λ̂ (SGLD's O(ε) bias), too
small an ε has not equilibrated in the allotted steps and deflates it. :func:`calibrate` runs the
whole grid as one vectorized batch of chains and recommends that region.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from occamlab._result import Result
from occamlab.slt._diagnostics import summarize_chains
from occamlab.slt._estimate import (
    RUNAWAY,
    auto_localization,
    auto_thin,
    default_batch,
    minibatch_share,
    step_for,
)
from occamlab.slt._llc import check_options, default_nbeta
from occamlab.slt._samplers import chain_generators, run_chains
from occamlab.slt._setup import check_batch, check_positive, curvature, prepare

__all__ = ["CalibrationResult", "calibrate"]

# Neighbouring step sizes "agree" when their estimates differ by less than this fraction or two
# combined standard errors, whichever is larger.
_FLAT = 0.1


@dataclass(frozen=True, repr=False)
class CalibrationResult(Result):
    """A calibration sweep.

    Fields:
        rows: one dict per grid point: ``step_size``, ``nbeta``, ``localization``, ``llc`` (mean
            over non-divergent chains), ``se``, ``divergent`` (number of chains), ``frac_below``,
            ``flat`` (agrees with the next smaller step size).
        recommended: the recommended ``{"step_size", "nbeta", "localization"}`` (empty if none).
        reason: why, in words.
    """

    rows: list[dict[str, Any]]
    recommended: dict[str, float]
    reason: str

    def plot(self, ax: Any = None) -> Any:
        """Heat map of λ̂: step sizes across, (nβ, γ) pairs down; divergent cells marked ×."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        steps = sorted({r["step_size"] for r in self.rows})
        groups = sorted({(r["nbeta"], r["localization"]) for r in self.rows})
        grid = np.full((len(groups), len(steps)), np.nan)
        for r in self.rows:
            i, j = groups.index((r["nbeta"], r["localization"])), steps.index(r["step_size"])
            grid[i, j] = r["llc"]
            if r["divergent"]:
                ax.text(j, i, "×", ha="center", va="center", color="red", fontsize=14)
            else:
                ax.text(j, i, f"{r['llc']:.3g}", ha="center", va="center", fontsize=7)
        im = ax.imshow(grid, aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(steps)), [f"{s:.2g}" for s in steps], rotation=45)
        ax.set_yticks(range(len(groups)), [f"nβ={a:.3g}, γ={b:.3g}" for a, b in groups])
        ax.set_xlabel("step size ε")
        if self.recommended:
            i = groups.index((self.recommended["nbeta"], self.recommended["localization"]))
            j = steps.index(self.recommended["step_size"])
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="w", lw=2))
        ax.figure.colorbar(im, ax=ax, label="λ̂")
        return ax


def _values(v: Any, name: str, *, allow_zero: bool = False) -> list[float]:
    if isinstance(v, int | float):
        v = [v]
    if not isinstance(v, Sequence | np.ndarray | torch.Tensor) or len(v) == 0:
        raise ValueError(f"{name} must be a non-empty sequence of numbers, got {v!r}")
    vals = v.tolist() if isinstance(v, np.ndarray | torch.Tensor) else list(v)
    return sorted({check_positive(x, name, allow_zero=allow_zero) for x in vals})


def calibrate(model: nn.Module, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
              data: Any, *, step_sizes: Sequence[float] | None = None,
              nbetas: Sequence[float] | None = None,
              localizations: Sequence[float] | None = None, chains: int = 2, draws: int = 100,
              burnin: int | None = None, thin: int | None = None, batch_size: int | None = None,
              sampler: str = "sgld", seed: int | None = 0,
              progress: bool = True) -> CalibrationResult:
    """Estimate λ̂ on a grid of (step size, nβ, localization) and recommend settings.

    Arguments:
        model, loss_fn, data: as for :func:`occamlab.slt.llc`.
        step_sizes: ε values; default the automatic ε of :func:`llc` (at w*, with ρ = 1: no
            pilot runs) times 0.1, 0.3, 1, 3, 10.
        nbetas: nβ values; default [n/log n].
        localizations: γ values; default [P/9] (as :func:`llc`).
        chains: chains per grid point (≥ 1).  draws, burnin, thin: as for :func:`llc` (a fixed
            run here; burnin
            defaults to ``draws``; thin to :func:`llc`'s choice for the middle step size, so
            that every grid point runs the same number of steps).
        batch_size, sampler, seed, progress: as for :func:`llc`.

    Returns:
        A :class:`CalibrationResult`: the table, and the recommendation: among grid points with no
        divergent chain and no more than 25% of draws below L(w*), the largest step size whose
        estimate agrees (within 10% or 2 SE) with the next smaller step size's, preferring the
        (nβ, γ) with the longest such flat run.
    """
    opts = check_options(chains=chains, draws=draws, burnin=burnin, thin=thin, max_steps=None,
                         sampler=sampler, seed=seed)
    chains, draws, burnin, thin = opts["chains"], opts["draws"], opts["burnin"], opts["thin"]
    sampler, seed = opts["sampler"], opts["seed"]
    prob = prepare(model, loss_fn, data)
    dev = prob.w_star.device
    nbs = [default_nbeta(prob.n)] if nbetas is None else _values(nbetas, "nbetas")
    batch = check_batch(batch_size, prob.n) or (min(prob.loader_batch, prob.n)
                                               if prob.loader_batch
                                               else default_batch(prob.n, nbs[0]))
    need = localizations is None or step_sizes is None or thin is None
    if need:
        top, diag, square, _ = (float(t[0]) for t in curvature(
            prob.loss, prob.w_star.unsqueeze(0), prob.x, prob.y,
            generators=chain_generators(seed, [(0, -1)], dev)))
    if localizations is None:
        gams = [auto_localization(prob.n_params)[0]]
    else:
        gams = _values(localizations, "localizations", allow_zero=True)
    if step_sizes is None:
        a_w = nbs[0] * square / diag + gams[0] if diag > 0 else math.nan
        base = (step_for(nbs[0] * top + gams[0], a_w, sampler,
                         minibatch_share(nbs[0], batch, prob.n))
                if top > 0 else 1e-4)
        eps = [base * f for f in (0.1, 0.3, 1.0, 3.0, 10.0)]
    else:
        eps = _values(step_sizes, "step_sizes")
    if thin is None:
        thin, _ = auto_thin(eps[len(eps) // 2], nbs[0] * max(diag, 0.0) + gams[0], sampler)
    grid = [(e, b, g) for b in nbs for g in gams for e in eps]
    per = lambda k: torch.tensor([p[k] for p in grid for _ in range(chains)],  # noqa: E731
                                 dtype=prob.w_star.dtype, device=prob.w_star.device)
    steps = (burnin + draws) * thin
    run = run_chains(prob.loss, prob.w_star, prob.x, prob.y, nbeta=per(1), step_size=per(0),
                     localization=per(2), chains=len(grid) * chains, steps=steps,
                     batch_size=batch, sampler=sampler,
                     generator=chain_generators(seed, [(0, c) for c in range(len(grid) * chains)],
                                                dev), progress=progress,
                     description=f"calibration: {len(grid)} settings × {chains} chains")
    diffs = (run.losses - run.ref_losses)[:, burnin * thin:].detach().cpu().double().numpy()
    rows = []
    for i, (e, b, g) in enumerate(grid):
        s = summarize_chains(b * diffs[i * chains:(i + 1) * chains], RUNAWAY * prob.n_params)
        rows.append({"step_size": e, "nbeta": b, "localization": g, "llc": s.mean, "se": s.se,
                     "divergent": len(s.divergent), "frac_below": s.frac_below, "flat": False})
    best, best_len = None, 0
    for b in nbs:
        for g in gams:
            group = [r for r in rows if r["nbeta"] == b and r["localization"] == g]
            run_len, prev = 0, None
            for r in group:  # ascending step size
                good = r["divergent"] == 0 and math.isfinite(r["llc"]) and r["frac_below"] <= 0.25
                if good and prev is not None:
                    tol = max(_FLAT * abs(prev["llc"]), 2 * math.hypot(r["se"], prev["se"]))
                    r["flat"] = abs(r["llc"] - prev["llc"]) <= tol
                run_len = run_len + 1 if r["flat"] else 0
                if r["flat"] and run_len >= best_len:
                    best, best_len = r, run_len
                prev = r if good else None
    if best is None:
        return CalibrationResult(rows, {}, "no two neighbouring step sizes agree without "
                                 "divergence: widen the grid towards smaller step sizes or "
                                 "run more draws")
    rec = {"step_size": best["step_size"], "nbeta": best["nbeta"],
           "localization": best["localization"]}
    reason = (f"ε = {best['step_size']:.3g} is the largest step size where λ̂ = {best['llc']:.4g} "
              f"agrees with the next smaller step size (flat for {best_len} step(s)) and no "
              f"chain diverged, at nβ = {best['nbeta']:.4g}, γ = {best['localization']:.3g}")
    return CalibrationResult(rows, rec, reason)
