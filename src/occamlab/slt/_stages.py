"""Developmental stages from the LLC over training, after Hoogland et al. (arXiv 2402.02364).

Hoogland et al. ("Loss landscape degeneracy and stagewise development in transformers", TMLR
2025; the stage division of their methodology) estimate λ̂ at checkpoints, smooth it against
log(step), and cut training at the critical points of the smoothed curve: the plateaus where its
slope vanishes. A stage is type A when the LLC rises across it (the loss falls while complexity
grows) and type B when it falls. They smooth with a Gaussian process; here the smoother is
local-linear regression with a Gaussian kernel, whose bandwidth minimizes an estimate of its
risk (Mallows' C_p from the estimates' standard errors, or leave-one-out cross validation without
them): deterministic, with little ringing next to a sharp step (on evenly spaced log-steps its
interior weights are nearly the kernel's own, positive) and without a kernel average's bias at the
two ends of training.

The rule, step by step (x = log(1 + step), so the initialisation at step 0 is allowed):

1. smooth: λ̃(x) = the value at x of the line fitted to (xᵢ, λ̂ᵢ) with weights
   exp(−(x − xᵢ)²/(2h²)). λ̃ = Σᵢ ℓᵢ(x)·λ̂ᵢ is linear in the estimates, with weights ℓ. h
   minimizes, over 64 log-spaced values from the median checkpoint spacing to the whole span of
   x (ties go to the wider h), Mallows' C_p Σᵢ (λ̂ᵢ − λ̃(xᵢ))² + 2·Σᵢ sᵢ²·ℓᵢ(xᵢ) when the
   estimates' standard errors sᵢ are known (a trajectory's), else the leave-one-out error
   Σᵢ (λ̂ᵢ − λ̃₋ᵢ(xᵢ))². With few checkpoints per plateau, leave-one-out oversmooths: on 50
   synthetic staircases of 20 checkpoints (5 to 4,000; logistic steps of 2.5, 2, 2 and width
   0.1 in log step; noise 0.15)
   C_p found the three stages in 49, leave-one-out in 31 (46 against 29 when the given SEs are
   half the true noise);
2. noise: σ̂ of the estimates, the root mean square of their own standard errors when known (a
   trajectory's), else from Gasser, Sroka & Jennen-Steinmetz's (1986) pseudo-residuals (each
   point against the line through its two neighbours), through their median, which ignores the
   few large ones at transitions — but not when a plateau is only a handful of checkpoints, and
   transitions are a large share of the residuals;
3. critical points: on a grid of 1024 points, every dip of |dλ̃/dx| to at most ``flatness``
   (0.4) times the lower of the two slope peaks that flank it (its topographic prominence), and
   every sign change of the slope (an extremum); each is moved to the nearest checkpoint. A
   plateau is thus a dip of the rate of change relative to the transitions around it, not to an
   absolute slope, so that large and small steps of the LLC count alike;
4. significance: a stage whose change |λ̃(b) − λ̃(a)| is below ``z`` standard errors
   σ̂·‖ℓ(b) − ℓ(a)‖ is merged into its neighbour, the weakest first, keeping the flatter boundary;
5. kinds: "A" where λ̃ rises across the stage, "B" where it falls.

``z`` is 4 rather than 3 because the candidates are the curve's own dips, picked where the noise
happens to flatten it: on 50 noisy synthetic staircases (3 logistic steps of height 2 in log step,
width 0.2, noise 0.1, 40 checkpoints), z = 3 added a spurious end stage to 2 and z = 4 to none.

Resolution: a plateau is found when it spans a few checkpoints (≳ 4) and the noise is well below
the step it separates; with 40 log-spaced checkpoints over four decades, steps of height 2 and
noise 0.1 every synthetic staircase of transition width 0.2 came out right (50 of 50), with
noise 0.3 about 19 in 20 (9 in 20 at width 0.3). Shorter plateaus need ``bandwidth`` set below
the checkpoint spacing, and little noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.signal import find_peaks, peak_prominences

from occamlab._check import check_real
from occamlab._result import Result
from occamlab._torch import as_tensor

__all__ = ["Stages", "stages"]

_GRID = 1024
_BANDWIDTHS = 64


@dataclass(frozen=True, repr=False)
class Stages(Result):
    """Developmental stages of a training run (:func:`stages`).

    Attributes:
        boundaries: (S+1,) the checkpoint steps that delimit the S stages, in time order (the
            first and the last checkpoint included).
        kinds: ("A" | "B", ...) one per stage: the smoothed LLC rises across it (A) or falls (B).
        changes: (S,) the change of the smoothed LLC across each stage.
        steps: (K,) the checkpoints' steps.
        llc: (K,) the LLC estimates.
        smoothed: (K,) the smoothed LLC at the checkpoints.
        loss: (K,) the loss at the checkpoints, or None.
        bandwidth: the smoother's bandwidth h, in units of log(1 + step).
        noise: σ̂, the estimated noise of the LLC estimates.
    """

    boundaries: torch.Tensor
    kinds: tuple[str, ...]
    changes: torch.Tensor
    steps: torch.Tensor
    llc: torch.Tensor
    smoothed: torch.Tensor
    loss: torch.Tensor | None
    bandwidth: float
    noise: float

    def plot(self, ax: Any = None) -> Any:
        """LLC (points, smoothed line) and loss (right axis) against step on a log axis, with the
        stages shaded and labelled A or B; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        steps = self.steps.detach().cpu().numpy()
        b = self.boundaries.detach().cpu().numpy()
        ax.plot(steps, self.llc.detach().cpu().numpy(), "o", ms=3, color="C0", label="λ̂")
        ax.plot(steps, self.smoothed.detach().cpu().numpy(), "-", color="C0", lw=1.5,
                label=f"smoothed (h = {self.bandwidth:.2g})")
        for i, kind in enumerate(self.kinds):
            ax.axvspan(b[i], b[i + 1], color="C2" if kind == "A" else "C3", alpha=0.12, lw=0)
            ax.text(np.sqrt(max(b[i], 1.0) * b[i + 1]), 0.97, f"{kind}{i + 1}",
                    transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=8)
        if steps[0] > 0:
            ax.set_xscale("log")
        else:
            ax.set_xscale("symlog", linthresh=max(float(steps[1]), 1.0))
        ax.set_xlabel("step")
        ax.set_ylabel("LLC λ̂")
        if self.loss is not None:
            ax2 = ax.twinx()
            ax2.plot(steps, self.loss.detach().cpu().numpy(), color="C1", lw=1, label="loss")
            ax2.set_ylabel("loss", color="C1")
        ax.legend(fontsize=7, loc="center left")
        return ax


def _weights(at: np.ndarray, x: np.ndarray, h: float) -> np.ndarray:
    """(E, K) local-linear Gaussian-kernel weights: row e gives λ̃(at_e) = Σᵢ ℓᵢ(at_e)·λ̂ᵢ.

    At each point a line is fitted to the checkpoints by least squares with weights
    kᵢ = exp(−(xᵢ − at)²/(2h²)), normalized in log space so that a point far from every
    checkpoint still gets its nearest ones' fit instead of 0/0.
    """
    logk = -0.5 * ((at[:, None] - x[None, :]) / h) ** 2
    logk -= logk.max(axis=1, keepdims=True)
    k = np.exp(logk)
    k /= k.sum(axis=1, keepdims=True)
    mean = (k * x[None, :]).sum(axis=1, keepdims=True)
    d = x[None, :] - mean
    spread = (k * d**2).sum(axis=1, keepdims=True) + (1e-9 * h) ** 2
    return k * (1 + d * (at[:, None] - mean) / spread)


def _bandwidth(x: np.ndarray, y: np.ndarray, se: np.ndarray | None = None) -> float:
    """The bandwidth with the smallest estimated risk: Mallows' C_p with the estimates' own
    standard errors ``se`` when given, else the exact leave-one-out squared error.

    With known noise variances sᵢ², E‖λ̂ − Lλ̂‖² + 2·Σᵢ sᵢ²·Lᵢᵢ − Σᵢ sᵢ² is the smoother's risk
    E‖Lλ̂ − λ‖² (Mallows 1973, Technometrics 15; the heteroscedastic form of Stein's unbiased
    risk estimate). Leave-one-out needs no noise level, but with only a few checkpoints per
    plateau it also pays for the sharp transitions and oversmooths them away: for a linear
    smoother that fits each point by weighted least squares, leaving point i out changes its
    residual to (λ̂ᵢ − λ̃(xᵢ))/(1 − ℓᵢ(xᵢ)) exactly.
    """
    grid = np.geomspace(x[-1] - x[0], float(np.median(np.diff(x))), _BANDWIDTHS)  # wide first
    best, best_h = np.inf, float(grid[0])
    tie = 1e-12 * float(np.sum((y - y.mean()) ** 2))  # below this, errors are rounding
    for h in grid:
        w = _weights(x, x, h)
        lev = np.diag(w)
        if se is not None:
            err = float(np.sum((y - w @ y) ** 2) + 2 * np.sum(se ** 2 * lev))
        elif lev.max() >= 1 - 1e-9:  # a point that only fits itself: no leave-one-out prediction
            continue
        else:
            err = float(np.sum(((y - w @ y) / (1 - lev)) ** 2))
        if err < best - tie:  # strictly better, so ties keep the wider bandwidth
            best, best_h = err, float(h)
    return best_h


def _noise(x: np.ndarray, y: np.ndarray) -> float:
    """σ̂ from Gasser, Sroka & Jennen-Steinmetz (1986, Biometrika 73) pseudo-residuals.

    ε̃ᵢ = aᵢ yᵢ₋₁ + bᵢ yᵢ₊₁ − yᵢ (the residual from the line through the two neighbours) has
    variance σ²(aᵢ² + bᵢ² + 1) for independent noise; the median absolute value (× 1.4826, the
    normal consistency factor) ignores the few large ones at transitions.
    """
    a = (x[2:] - x[1:-1]) / (x[2:] - x[:-2])
    b = 1 - a
    eps = (a * y[:-2] + b * y[2:] - y[1:-1]) / np.sqrt(a**2 + b**2 + 1)
    return 1.4826 * float(np.median(np.abs(eps)))


def stages(traj: Any, llc: Any = None, loss: Any = None, *, se: Any = None,
           flatness: float = 0.4, z: float = 4.0, bandwidth: float | None = None) -> Stages:
    """Cut a training run into developmental stages at the plateaus of its LLC curve.

    Method of Hoogland et al. (arXiv 2402.02364; TMLR 2025), stage division by the critical points
    of the LLC over log(step): smoothed by local-linear Gaussian-kernel regression in log(1 + step)
    with a C_p (or leave-one-out) bandwidth; plateaus where the slope dips to at most
    ``flatness`` of the flanking transitions' slope, and extrema; stages whose change is not
    ``z`` standard errors merged away (the module docstring gives each rule).
    Deterministic: the same inputs give the same stages.

    Arguments:
        traj: an object with ``.steps``, ``.llc`` and ``.loss`` (K,) (an LLC trajectory; ``loss``
            may be None), or the (K,) steps themselves (then pass ``llc``).
        llc: (K,) the LLC estimates at those steps, when ``traj`` is the steps.
        loss: (K,) the training loss there (shown by ``plot``), optional.
        se: (K,) the estimates' standard errors (a trajectory's own ``.se`` by default). They
            set the bandwidth (C_p) and their root mean square is the noise σ̂ of step 4;
            without them, leave-one-out and the pseudo-residuals of step 2, which overestimate
            σ̂ when plateaus are short (a handful of checkpoints each, so that transitions are
            a large share of the residuals).
        flatness: a plateau's slope as a fraction of the lower flanking peak slope (> 0).
        z: the number of standard errors a stage's change must exceed (≥ 0).
        bandwidth: the smoother's bandwidth h in units of log(1 + step); None chooses it by
            Mallows' C_p with ``se``, else by leave-one-out cross validation. Set it below the
            checkpoint spacing to resolve plateaus only two or three checkpoints long.

    Returns:
        :class:`Stages` with ``boundaries`` (S+1,) steps in time order and ``kinds`` ("A"|"B")
        for each of the S stages, on the device of ``llc``.

    Raises:
        ValueError: fewer than 3 checkpoints, steps negative or not strictly increasing, NaN or
            Inf anywhere, or mismatched lengths.
    """
    if llc is None:
        missing = [a for a in ("steps", "llc", "loss") if not hasattr(traj, a)]
        if missing:
            raise TypeError(f"traj must have .steps, .llc and .loss (an LLC trajectory), or be "
                            f"the steps with llc= given; {type(traj).__name__} lacks "
                            f"{', '.join('.' + m for m in missing)}")
        steps_in, llc, loss = traj.steps, traj.llc, (traj.loss if loss is None else loss)
        se = getattr(traj, "se", None) if se is None else se
    else:
        steps_in = traj
    flatness = check_real(flatness, "flatness", gt=0)
    z = check_real(z, "z", ge=0)
    if bandwidth is not None:
        bandwidth = check_real(bandwidth, "bandwidth", gt=0)
    lam_t = as_tensor(llc, "llc", ndim=1)
    device = lam_t.device
    steps_t = as_tensor(steps_in, "steps", ndim=1)
    loss_t = None if loss is None else as_tensor(loss, "loss", ndim=1)
    k = lam_t.numel()
    if k < 3:
        raise ValueError(f"stages needs at least 3 checkpoints to find a plateau, got {k}")
    se_t = None if se is None else as_tensor(se, "se", ndim=1)
    for name, v in (("steps", steps_t), ("loss", loss_t), ("se", se_t)):
        if v is not None and v.numel() != k:
            raise ValueError(f"{name} has {v.numel()} entries but llc has {k}; give one per "
                             f"checkpoint")
    steps = steps_t.detach().cpu().to(torch.float64).numpy()
    if steps[0] < 0:
        raise ValueError(f"steps must be ≥ 0 (training steps), got {steps[0]:g}")
    bad = np.flatnonzero(np.diff(steps) <= 0)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"steps must be strictly increasing; steps[{i}] = {steps[i]:g} is "
                         f"followed by steps[{i + 1}] = {steps[i + 1]:g}")
    y = lam_t.detach().cpu().to(torch.float64).numpy()
    x = np.log1p(steps)

    if se_t is None:
        s_e = None
        sigma = _noise(x, y)
    else:
        s_e = se_t.detach().cpu().to(torch.float64).numpy()
        if not (np.isfinite(s_e).all() and (s_e >= 0).all()):
            raise ValueError("se must be finite and ≥ 0: the standard errors of the estimates")
        sigma = float(np.sqrt(np.mean(s_e ** 2)))
    h = _bandwidth(x, y, s_e) if bandwidth is None else bandwidth
    at_ckpt = _weights(x, x, h)  # (K, K): row i gives λ̃(xᵢ)
    smooth = at_ckpt @ y
    grid = np.linspace(x[0], x[-1], _GRID)
    w_grid = _weights(grid, x, h)
    dw_grid = np.gradient(w_grid, grid, axis=0)  # rows of dλ̃/dx
    slope = dw_grid @ y

    # critical points: dips of |slope| to at most `flatness` of the lower slope peak that flanks
    # them (the dip's topographic prominence), and every extremum (a sign change of the slope)
    mag = np.abs(slope)
    dips, _ = find_peaks(-mag)
    cands = []
    if dips.size:
        _, left, right = peak_prominences(-mag, dips)
        ref = np.minimum(mag[left], mag[right])  # the lower flanking peak
        cands = [int(i) for i in dips[mag[dips] <= flatness * ref]]
    for i in np.flatnonzero(slope[:-1] * slope[1:] < 0):
        cands.append(int(i if mag[i] <= mag[i + 1] else i + 1))
    flatness_at: dict[int, float] = {}  # checkpoint index → |slope| there, the flattest kept
    for c in cands:
        i = int(np.argmin(np.abs(x - grid[c])))
        if 0 < i < k - 1:
            flatness_at[i] = min(flatness_at.get(i, np.inf), abs(float(slope[c])))
    bounds = [0, *sorted(flatness_at), k - 1]

    floor = 1e-9 * float(np.abs(y).max()) + 1e-300  # rounding, for noise-free curves
    while len(bounds) > 2:
        delta = smooth[bounds[1:]] - smooth[bounds[:-1]]
        se = sigma * np.linalg.norm(at_ckpt[bounds[1:]] - at_ckpt[bounds[:-1]], axis=1)
        thresh = np.maximum(z * se, floor)
        j = int(np.argmin(np.abs(delta) / thresh))
        if abs(delta[j]) > thresh[j]:
            break
        if j == 0:
            drop = 1
        elif j == len(bounds) - 2:
            drop = j
        else:  # keep the flatter of the stage's two interior boundaries
            drop = j if flatness_at[bounds[j]] > flatness_at[bounds[j + 1]] else j + 1
        del bounds[drop]
    delta = smooth[bounds[1:]] - smooth[bounds[:-1]]
    kinds = tuple("A" if d >= 0 else "B" for d in delta)

    def out(v: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(v, dtype=torch.float64).to(device)

    return Stages(boundaries=steps_t[bounds].to(device), kinds=kinds, changes=out(delta),
                  steps=steps_t.to(device), llc=lam_t, smoothed=out(smooth),
                  loss=None if loss_t is None else loss_t.to(device), bandwidth=h, noise=sigma)
