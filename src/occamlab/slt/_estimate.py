"""The LLC engine: calibrate and sample K centres w* (checkpoints) × C chains in one computation.

:func:`occamlab.slt.llc` is this with K = 1; :func:`occamlab.slt.trajectory` with one centre per
checkpoint. Every random stream is keyed by (checkpoint, chain) (calibration by (checkpoint,
purpose)), so a checkpoint's estimate does not depend on which other checkpoints run with it.

Default settings (one rule each, shared with :func:`occamlab.slt.calibrate`), from the Hessian H
of L_n, with a = nβ·(curvature) + γ the curvature of the sampled potential:

- Preconditioning (SGLD with the step chosen here and P ≤ ``PRECONDITION_MAX``; else plain
  SGLD, curvatures from power iteration and Hutchinson probes,
  :func:`occamlab.slt._setup.curvature`). The chains run in the coordinates z of
  w − w* = S·z, S = (nβ·|H̄| + γ)^(−1/2), a constant metric (Girolami & Calderhead 2011, JRSS B
  73(2), §5), which leaves the posterior as it is: every direction the loss confines near w*
  then has curvature ≈ 1 and relaxes at one rate, instead of the stiffest setting ε and the
  flattest the run length (a condition number of nβ·λ_max/γ, 10⁴ for a deep linear network at
  a saddle). H̄ is first the dense Hessian at w* (on up to 16384 rows: on fewer, the residual
  term of a minimum does not cancel and shows as spurious curvature), then, over
  ``_METRIC_ROUNDS`` rounds, the mean Hessian where C pilot chains went: at a singular w* the
  degenerate directions stiffen as soon as the chains leave it, and the metric follows the
  posterior's typical set. |·| takes the magnitude of a negative eigenvalue (Dauphin et al.
  2014, arXiv 1406.2572). Every curvature below is then the one in z.
- Batch B = min(n, ⌈nβ⌉) rows. Minibatch gradients add ρ·(nβ/B)·εa/4 to SGLD's variance
  inflation in a direction of curvature a, with ρ = tr(Σ_g)/tr(H) (Σ_g the covariance of one
  row's gradient; ρ ≈ 1 at a well-specified minimum, where Fisher = Hessian, and ≈ 0 for
  noise-free targets such as ``relabel=True``); B ≥ nβ keeps that at most the
  discretization's own εa/4. ρ is measured at the end of the first pilot run that did not
  diverge, and B is then cut to max(64, ⌈ρ·nβ⌉), which keeps the same bound (a DataLoader's or
  a given batch size is kept). Each centre of a trajectory has its own ρ and B; the chains of
  one batch size run together.
- Step size. SGLD's stationary variance in a direction of curvature a is 1/(a·(1 − εa/4)):
  inflated by ≈ εa/4, plus the minibatch's share. Every direction the loss confines
  quadratically contributes ½ to λ, so the relative bias of that (regular) part of λ̂ is the
  contribution-weighted mean ε·a_w·(1 + ρ·nβ/B)/4 with a_w = nβ·tr(H²)/tr(H) + γ; ε holds it
  at ``BIAS`` (2.5%), and at most ``STEP_CAP``/a_max (no single direction inflated by more
  than 1/(1 − 1/16) = 6.7%, far from the stability limit εa = 4). Both are measured again at
  the ends of short pilot runs (the potential can be stiffer away from w*), and the larger
  kept. An adaptive run measures them once more where its chains stand at the end of each
  length it tries (up to ``_RECHECKS`` times): where they ask for a step 1.5× smaller or more,
  it takes that step and starts again from there, the draws so far its burn-in. Along the
  directions that keep the function (a wide deep linear network) the chains reach regions
  several times stiffer than any 100-step pilot does: a 5→10→10→5 network's trained checkpoint
  read 18.0 with the pilots' step, 12.5 with this, against 12.4 from a Metropolis-corrected
  HMC on the same posterior. Bounding by a_w rather than a_max matters for singular models:
  a few stiff directions no longer set the pace of the flat ones, whose exploration is what
  λ − (regular part) is made of.
- Localization γ = P/R² with R = 3: in the directions the loss does not confine (symmetries,
  or w* degenerate to all orders) the chains stay within E‖w − w*‖² = P/γ = R² of w*, and a
  regular direction of curvature a loses γ/(a + γ) of its ½. Unlike a γ proportional to the
  curvature, this does not grow with the stiff directions: those do not need it, and a γ
  that large confines the higher-order directions of a singular model below their own scale
  and deflates λ̂ (a deep linear network at a rank-1 saddle, nβ = 1086, gave 5.0 at γ = 49
  against Aoyagi's 6.5, 6.4 at γ = 10). A γ → 0 lets chains wander into regions of other
  curvature (at the origin of the same network, γ = 0.0012 gave 5.2 against 4.5).
  Preconditioned, γ = 3 instead, the same for every coordinate: a localization's cost there is
  no longer a flat direction's relaxation 2/(εγ), and a total radius R spread over P
  coordinates confines each coordinate of a wide network more tightly than a narrow one's,
  deflating λ̂ where the loss is degenerate to high order (a 5→10→10→5 deep linear network
  near the origin, nβ = 1086, Aoyagi's λ = 12.5: 7.8 at γ = P/9 = 22, 11.2 at γ = 4.3, 12.5
  at γ = 3, 18.3 at γ = 1, the last a wander beyond the origin's own scale).
- Run length (``draws=None``). The slowest direction relaxes in τ = 2/(ε·(a_min + γ)) steps
  (a_min the smallest curvature of nβ·H, often 0: then the localization alone sets it;
  preconditioned, a_min + γ = 1). The
  chains first run T = max(τ, 200) steps; the first half is burn-in and the last half is kept
  (as Gelman & Rubin's "discard the first half" rule, *Bayesian Data Analysis* 3rd ed. §11.4);
  the run stops when the kept draws have a pooled effective sample size ≥ 400 (Vehtari et al.
  2021, Bayesian Analysis 16(2), §4: "ESS > 400" with 4 chains; also as implied by the
  standard error, which covers the spread between chains), split-R̂ < 1.05 and |Geweke
  z| < 2; otherwise T doubles, up to a cap of 8 times the first length or 400 draws of
  ``thin`` steps (the relaxation time of a typical direction), whichever is longer, where a
  failing diagnostic is reported as a warning.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from occamlab.slt._diagnostics import summarize_chains
from occamlab.slt._samplers import ChainState, chain_generators, run_chains
from occamlab.slt._setup import curvature, gradient_noise, hessians

# Relative bias of the regular part of λ̂ from discretization and minibatch noise (module doc).
BIAS = 0.025
# ε·a_max at most this: the stiffest direction's variance inflated by at most 1/(1 − 1/16).
STEP_CAP = 0.25
# SGNHT and pSGLD move by ~ε·√a per step: ε = c/√a_max for them.
STEP_FRACTION = 0.05
# γ = P/R²: the chains' ball around w* (module doc).
LOC_RADIUS = 3.0
# Preconditioned: γ per coordinate, whatever P (module doc).
LOC_COORD = 3.0
_PILOT_STEPS = 100
# Steps per draw: 1/(ε·a_mean), at most 1000.
MAX_THIN = 1000
_FALLBACK_THIN = 100  # when there is no curvature to set it
# A chain whose estimate passes this many times the parameter count ran away: λ ≤ P/2 always.
RUNAWAY = 10.0
_TARGET_ESS, _STOP_RHAT, _STOP_GEWEKE = 400.0, 1.05, 2.0
_MIN_STEPS, _CAP_DOUBLINGS, _CAP_DRAWS = 200, 3, 400
# Precondition SGLD by the curvature at w* when P is at most this (module doc): P Hessian
# products and a P×P eigendecomposition are then cheap beside the run.
PRECONDITION_MAX = 256
# Keys of the calibration streams (chains use keys ≥ 0).
_CURV_KEY, _PILOT_KEY, _METRIC_KEY, _RECHECK_KEY = -1, -100, -200, -300
# Rounds of pilot + mean Hessian that adapt the preconditioner to where the chains go.
_METRIC_ROUNDS = 3
# How many times an adaptive run may cut its step where its chains have gone.
_RECHECKS = 4
# The fewest rows a minibatch is cut to when the measured gradient noise is small.
_MIN_BATCH = 64
# Rows of those Hessians (away from w* there is no residual cancellation to keep exact).
_METRIC_ROWS = 4096


def default_batch(n: int, nbeta: float) -> int:
    """B = min(n, ⌈nβ⌉): minibatch noise at most the discretization's bias (module doc)."""
    return int(min(n, max(1, math.ceil(nbeta))))


def minibatch_share(nbeta: float, batch: int, n: int, rho: float = 1.0) -> float:
    """1 + ρ·nβ/B: the variance inflation's factor from B-row minibatches drawn with
    replacement (1 for the full batch, whose gradient is exact)."""
    return 1.0 if batch >= n else 1 + rho * nbeta / batch


def step_for(a_max: float, a_w: float, sampler: str, noise: float = 1.0) -> float:
    """ε from the stiffest curvature a_max and the weighted one a_w (module doc).

    ``noise`` = 1 + nβ/B, the minibatch's share of the variance inflation.
    """
    if sampler != "sgld":
        return STEP_FRACTION / math.sqrt(a_max)
    eps = STEP_CAP / a_max
    if a_w > 0 and math.isfinite(a_w):
        eps = min(eps, 4 * BIAS / (a_w * noise))
    return eps


def auto_localization(n_params: int, preconditioned: bool = False) -> tuple[float, str]:
    if preconditioned:
        return LOC_COORD, (f"localization γ = {LOC_COORD:g}: each coordinate the loss does not "
                           f"confine stays within 1/√γ = {LOC_COORD ** -0.5:.2f} of w*")
    gamma = n_params / LOC_RADIUS ** 2
    return gamma, (f"localization γ = {gamma:.3g} = P/R² with P = {n_params}, R = "
                   f"{LOC_RADIUS:g}: directions the loss does not confine stay within "
                   f"E‖w − w*‖² = R² of w*")


def relaxation_steps(eps: Any, a_slow: float, sampler: str) -> int:
    """τ = 2/(ε·a_slow) steps (2/(ε·√a_slow) for SGNHT, pSGLD): the slowest direction, of
    curvature a_slow in the sampled potential."""
    e = min(eps) if isinstance(eps, list) else eps
    rate = e * (a_slow if sampler == "sgld" else math.sqrt(max(a_slow, 0.0)))
    return int(math.ceil(2 / rate)) if rate > 0 else 10 ** 9


def auto_thin(step_size: Any, a_mean: float, sampler: str) -> tuple[int, str]:
    eps = min(step_size) if isinstance(step_size, list) else step_size
    rate = eps * (a_mean if sampler == "sgld" else math.sqrt(max(a_mean, 0.0)))
    if not rate > 0:
        return _FALLBACK_THIN, f"{_FALLBACK_THIN} steps per draw (no curvature scale at w*)"
    thin = int(min(MAX_THIN, max(1, math.ceil(1 / rate))))
    return thin, (f"{thin} steps per draw ≈ 1/(ε·a_mean), a_mean = nβ·tr(H)/P + γ = {a_mean:.4g}: "
                  f"the relaxation time of a typical direction")


@dataclass
class Centres:
    """K centres w* of one loss: the data, the targets of each (shared or per centre), keys."""

    loss: Any
    w: torch.Tensor  # (K, P)
    x: torch.Tensor
    y: torch.Tensor  # (n, ...) shared, or (K, n, ...) if per_centre_y
    per_centre_y: bool
    keys: list[int]  # the checkpoint index of each centre, for its random streams
    own_targets: bool = False  # y[k] = the outputs at w*[k] (relabelled)

    @property
    def k(self) -> int:
        return self.w.shape[0]


@dataclass
class StepRule:
    """What a centre's chosen step came from, ε = step_for(a_max, a_w, 1 + ρ·nβ/B)/10^cuts,
    kept so that an adaptive run can apply the rule again where its chains have gone."""

    a_max: float
    a_w: float
    rho: float  # NaN where it was not measured (then ρ = 1 is assumed)
    cuts: int
    loc_top: float  # the localization's share of a_max
    a_mean: float | None  # thin = 1/(ε·a_mean); None when thin was given
    a_slow: float  # relax = 2/(ε·a_slow)

    def step(self, nbeta: float, batch: int, n: int) -> float:
        """ε of this rule for ``batch``-row minibatches of ``n`` rows (ρ measured)."""
        share = minibatch_share(nbeta, batch, n, self.rho)
        return step_for(self.a_max, self.a_w, "sgld", share) / 10 ** self.cuts


@dataclass
class Settings:
    """Per-centre sampler settings after calibration."""

    step_size: list[Any]
    localization: list[float]
    thin: list[int]
    notes: list[list[str]]
    mean_curvature: list[float]  # tr(H)/P at each centre (NaN when not measured)
    relax: list[int]  # τ: steps for the slowest direction to relax (the first run length)
    precondition: torch.Tensor | None  # (K, P, P): S with w − w* = S·z, or None
    batch: list[int]  # rows per chain per step, per centre
    rules: list[StepRule] | None = None  # per centre, when the SGLD step was chosen here


def _chain_metric(pre: torch.Tensor | None, rows: Sequence[int], chains: int
                  ) -> torch.Tensor | None:
    """The preconditioner of the chains of the centres ``rows``: (P, P) shared by the chains of
    one centre, else (len(rows)·chains, P, P) (as :func:`_batch_for` lays out the centres)."""
    if pre is None:
        return None
    rows = list(rows)
    return pre[rows[0]] if len(rows) == 1 else pre[rows].repeat_interleave(chains, 0)


def _batch_for(c: Centres, rows: Sequence[int], chains: int) -> tuple[Any, Any, Any]:
    """(centres, y, groups) for the chains of the centres ``rows`` (``chains`` each).

    One centre is passed as shared (P,) with its own targets: the sampler's fast path.
    """
    rows = list(rows)
    if len(rows) == 1:
        return c.w[rows[0]], (c.y[rows[0]] if c.per_centre_y else c.y), None
    centres = c.w[rows].repeat_interleave(chains, 0)
    if not c.per_centre_y:
        return centres, c.y, None
    groups = torch.arange(len(rows), device=c.w.device).repeat_interleave(chains)
    return centres, c.y[rows], groups


def _chain_curvature(c: Centres, rows: list[int], points: torch.Tensor, chains: int,
                     pre: torch.Tensor | None, gens: list[torch.Generator], *, sgld: bool,
                     noise: bool) -> tuple[list[float], ...]:
    """The curvature where the chains of the centres ``rows`` stand, ``points``
    (len(rows)·chains, P), in the preconditioned coordinates when ``pre`` is given: per centre,
    the largest |eigenvalue| of H over its chains, tr(H²)/tr(H) of their mean (with ``sgld``)
    and, with ``noise``, the minibatch noise ρ = tr(Σ_g)/tr(H) to two significant digits (8
    groups estimate it to ~20%, so the step does not depend on how centres were batched)."""
    m = len(rows)
    yy = c.y[rows][:, :1024].repeat_interleave(chains, 0) if c.per_centre_y else c.y
    s_pts = None if pre is None else pre[rows].repeat_interleave(chains, 0)
    pts = torch.nan_to_num(points)
    tops, diag, square, _ = curvature(c.loss, pts, c.x, yy, generators=gens,
                                      per_point_y=c.per_centre_y, trace=sgld, lowest=False,
                                      precondition=s_pts)
    weighted = (square.reshape(m, chains).mean(dim=1) / diag.reshape(m, chains).mean(dim=1))
    rho = [math.nan] * m
    if noise:
        sig = gradient_noise(c.loss, pts, c.x, yy, per_point_y=c.per_centre_y,
                             precondition=s_pts)
        ratio = sig.reshape(m, chains).sum(dim=1) / diag.reshape(m, chains).sum(dim=1)
        rho = [float(f"{v:.2g}") if math.isfinite(v) else v for v in ratio.tolist()]
    return tops.reshape(m, chains).max(dim=1).values.tolist(), weighted.tolist(), rho


def _pilot_step(c: Centres, rows: list[int], a0: list[float], aw0: list[float],
                loc_top: list[float], *, nbeta: float, gamma: list[float], chains: int,
                batch: int, sampler: str, seed: int, pre: torch.Tensor | None,
                key: int = _PILOT_KEY, start: torch.Tensor | None = None
                ) -> tuple[list[float], list[str], torch.Tensor, list[tuple[float, ...]]]:
    """Step sizes from the curvature of the sampled potential, refreshed along short pilots.

    ``a0``, ``aw0``: the stiffest and the weighted curvature of the potential at w* (in the
    preconditioned coordinates when ``pre`` is given); ``loc_top``: the localization's share
    of the stiffest (γ, or γ·maxᵢ (S²)ᵢᵢ preconditioned). The first pilot's end also measures the
    minibatch noise: ρ = tr(Σ_g)/tr(H) there (1 when the per-sample gradient covariance is the
    Hessian), so its share is ρ·nβ/B. Also returns where the last finite pilot of each centre
    ended, (K, C, P) (``start`` (K, C, P) starts the chains there instead of at w*), and the
    (a_max, a_w, ρ, cuts) the step of each centre was set from: ε = ε(a_max, a_w, ρ)/10^cuts,
    cuts the tenfold reductions after divergent pilots (ρ is NaN where every pilot diverged).
    """
    n = c.x.shape[0]
    ends = c.w.unsqueeze(1).repeat(1, chains, 1) if start is None else start.clone()
    noise = dict.fromkeys(rows, minibatch_share(nbeta, batch, n))
    a = {k: a0[k] for k in rows}
    aw = {k: aw0[k] for k in rows}
    where = dict.fromkeys(rows, "w*")
    rhos = dict.fromkeys(rows, math.nan)
    cuts = dict.fromkeys(rows, 0)  # tenfold reductions of the step after divergent pilots

    def eps(k: int) -> float:
        return step_for(a[k], aw[k], sampler, noise[k]) / 10 ** cuts[k]

    notes: dict[int, list[str]] = {k: [] for k in rows}
    todo = list(rows)
    for rnd in range(4):
        if not todo:
            break
        gens = chain_generators(seed, [(c.keys[k], key - rnd, j)
                                       for k in todo for j in range(chains)], c.w.device)
        centres, y, groups = _batch_for(c, todo, chains)
        per = lambda vals: torch.tensor([vals[k] for k in todo for _ in range(chains)],  # noqa
                                        dtype=c.w.dtype, device=c.w.device)
        run = run_chains(c.loss, centres, c.x, y,
                         nbeta=nbeta, step_size=per({k: eps(k) for k in todo}),
                         localization=per(gamma),
                         chains=len(todo) * chains, steps=_PILOT_STEPS, batch_size=batch,
                         sampler=sampler, generator=gens, groups=groups,
                         precondition=_chain_metric(pre, todo, chains),
                         own_targets=c.own_targets,
                         state=None if start is None else ChainState(
                             start[todo].reshape(len(todo) * chains, -1).clone(), {}, gens))
        ok = (torch.isfinite(run.final).all(dim=1) & torch.isfinite(run.losses).all(dim=1))
        ok = ok.reshape(len(todo), chains).all(dim=1).tolist()
        finals = run.final
        curv_gens = chain_generators(seed, [(c.keys[k], key - 10 - rnd, j)
                                            for k in todo for j in range(chains)], c.w.device)
        # ρ at the first pilot of each centre that did not diverge
        measure = sampler == "sgld" and any(math.isnan(rhos[k]) for k in todo)
        tops, weighted, rho = _chain_curvature(c, todo, finals, chains, pre, curv_gens,
                                               sgld=sampler == "sgld", noise=measure)
        # A pilot that ends where the curvature overflows went too far, as a divergent one.
        ok = [o and math.isfinite(t) for o, t in zip(ok, tops, strict=True)]
        nxt = []
        for i, k in enumerate(todo):
            if (measure and ok[i] and math.isnan(rhos[k]) and math.isfinite(rho[i])
                    and rho[i] >= 0):
                noise[k], rhos[k] = minibatch_share(nbeta, batch, n, rho[i]), rho[i]
                notes[k].append(f"minibatch noise ρ = tr(Σ_g)/tr(H) = {rho[i]:.3g} at the "
                                f"pilot's end")
            if not ok[i]:
                cuts[k] += 1
                notes[k].append("a pilot chain diverged: step divided by 10")
                nxt.append(k)
                continue
            ends[k] = finals[i * chains:(i + 1) * chains]
            a_pilot = nbeta * tops[i] + loc_top[k]
            aw_pilot = nbeta * weighted[i] + loc_top[k] if weighted[i] > 0 else math.nan
            if a_pilot > 1.5 * a[k] or aw_pilot > 1.5 * aw[k]:
                # Stiffer where the chains went: the step from the curvature there.
                a[k], aw[k] = max(a[k], a_pilot), max(aw[k], aw_pilot)
                where[k] = f"the end of a {_PILOT_STEPS}-step pilot"
                cuts[k] = 0  # the step from that curvature replaces the earlier cuts
                nxt.append(k)
        todo = nxt
    msgs = []
    for k in rows:
        if sampler == "sgld":
            m = (f"step size ε = {eps(k):.3g} = min({4 * BIAS:g}/(a_w·(1 + ρ·nβ/B)), "
                 f"{STEP_CAP}/a_max) with a_w = {aw[k]:.4g} (nβ·tr(H²)/tr(H) + γ) and "
                 f"a_max = {a[k]:.4g} (nβ·λ_max(H) + γ, found at {where[k]})"
                 + (" in the preconditioned coordinates" if pre is not None else "")
                 + f": the regular part of λ̂ biased by ≈ {BIAS:.1%} at most")
        else:
            m = (f"step size ε = {eps(k):.3g} = c/√a with c = {STEP_FRACTION} and "
                 f"a = nβ·λ_max(H) + γ = {a[k]:.4g} (found at {where[k]})")
        msgs.append("; ".join([m, *notes[k]]))
    return [eps(k) for k in rows], msgs, ends, [(a[k], aw[k], rhos[k], cuts[k]) for k in rows]


def _metric(c: Centres, nbeta: float, gamma: list[float], points: torch.Tensor | None = None
            ) -> tuple[torch.Tensor, ...]:
    """The preconditioner at every centre, from the dense Hessian H = QΛQᵀ at w*, or from the
    mean Hessian over ``points`` (K, C, P) near each centre.

    S = Q·diag(a)^(−1/2)·Qᵀ with a = nβ·|Λ| + γ, so that w − w* = S·z turns the sampled
    potential's curvature at w* into the identity (a direction of negative curvature into one
    of curvature > −1: scaled by its magnitude, as Dauphin et al. 2014, arXiv 1406.2572, do for
    Newton's method). Returns (S (K, P, P), Λ (K, P), the curvature of the potential along each
    eigenvector in the z coordinates, (nβ·Λ + γ)/a (K, P)).
    """
    if points is None:
        h = hessians(c.loss, c.w, c.x, c.y, per_point_y=c.per_centre_y)
    else:
        k, m = points.shape[:2]
        y = c.y.repeat_interleave(m, 0) if c.per_centre_y else c.y
        h = hessians(c.loss, points.reshape(k * m, -1), c.x, y, per_point_y=c.per_centre_y,
                     rows=_METRIC_ROWS)
        h = h.reshape(k, m, *h.shape[1:]).mean(dim=1)
    lam, q = torch.linalg.eigh(h)
    g = torch.tensor(gamma, dtype=lam.dtype, device=lam.device).unsqueeze(1)
    a = nbeta * lam.abs() + g
    s = (q * a.rsqrt().unsqueeze(1)) @ q.transpose(1, 2)
    return s, lam, (nbeta * lam + g) / a


def _z_curvature(pre: torch.Tensor, zc: torch.Tensor, gamma: list[float]
                 ) -> tuple[list[float], ...]:
    """(a_max, a_w, the localization's share of a_max, a_mean) of the potential in the
    preconditioned coordinates, from its curvature along each eigenvector ``zc`` (K, P)."""
    za = zc.abs()
    # (S²)ᵢᵢ = Σⱼ Sᵢⱼ² for a symmetric S
    loc = [g * float(s.square().sum(dim=1).max()) for g, s in zip(gamma, pre, strict=True)]
    return (za.max(dim=1).values.tolist(), (za.square().sum(1) / za.sum(1)).tolist(), loc,
            za.mean(dim=1).tolist())


def calibrate_centres(c: Centres, *, nbeta: float, step_size: Any, localization: Any,
                      thin: int | None, chains: int, batch: int, sampler: str,
                      seed: int, precondition: bool | None = None,
                      adapt_batch: bool = False, measure: bool = True) -> Settings:
    """Localization, step size, steps per draw and preconditioner for each centre (given values
    kept; ``precondition`` None: when the step is chosen here, for SGLD and P ≤ 256;
    ``adapt_batch``: fewer rows than ``batch`` where the measured minibatch noise allows).

    ``measure=False`` (a fixed run whose caller does not read ``mean_curvature``) skips the
    curvature at w*, 41 Hessian-vector products per centre, when ε and thin are given too:
    ``mean_curvature`` is then NaN and ``relax`` the localization's alone.
    """
    k, n_params = c.k, c.w.shape[1]
    notes: list[list[str]] = [[] for _ in range(k)]
    if precondition is None:
        precondition = (step_size is None and sampler == "sgld"
                        and n_params <= PRECONDITION_MAX and (localization is None
                                                             or localization > 0))
    elif precondition and localization is not None and localization <= 0:
        raise ValueError("precondition=True needs a localization γ > 0: the directions the "
                         "loss does not confine are scaled by 1/√γ")
    if localization is None:
        g, note = auto_localization(n_params, precondition)
        gam = [g] * k
        for i in range(k):
            notes[i].append(note)
    else:
        gam = [float(localization)] * k
    pre = None
    batches = [batch] * k
    pilot = dict(nbeta=nbeta, gamma=gam, chains=chains, batch=batch, sampler=sampler,
                 seed=seed)
    if precondition:
        pre, lam, zc = _metric(c, nbeta, gam)
        diag = lam.mean(dim=1).tolist()
        a0, aw0, loc_top, a_mean = _z_curvature(pre, zc, gam)
        where = "the Hessian at w*"
        ends = None
        for rnd in range(_METRIC_ROUNDS if step_size is None else 0):
            # The typical set's curvature: the mean Hessian where pilot chains went.
            _, _, ends, _ = _pilot_step(c, list(range(k)), a0, aw0, loc_top, pre=pre,
                                        key=_METRIC_KEY - 20 * rnd, start=ends, **pilot)
            new, _, new_zc = _metric(c, nbeta, gam, points=ends)
            fine = torch.isfinite(new).all(dim=2).all(dim=1)  # else the metric of before
            pre = torch.where(fine[:, None, None], new, pre)
            zc = torch.where(fine[:, None], new_zc, zc)
            a0, aw0, loc_top, a_mean = _z_curvature(pre, zc, gam)
        if ends is not None:
            where = (f"the mean Hessian at the ends of {chains} pilot chains after "
                     f"{_METRIC_ROUNDS} rounds of adapting it")
        a_slow = [1.0] * k  # every direction of curvature ≥ 0 there has curvature 1 in z
        for i in range(k):
            notes[i].append(f"preconditioned SGLD: w − w* = S·z with S = (nβ·|H| + γ)^(−1/2), "
                            f"H {where}, so that every direction relaxes at one rate")
    else:
        if measure or step_size is None or thin is None:
            gens = chain_generators(seed, [(key, _CURV_KEY) for key in c.keys], c.w.device)
            curv = curvature(c.loss, c.w, c.x, c.y, generators=gens,
                             per_point_y=c.per_centre_y)
            top, diag, square, bottom = (t.tolist() for t in curv)
        else:
            top = diag = square = bottom = [math.nan] * k
        a0 = [nbeta * top[i] + gam[i] for i in range(k)]
        aw0 = [nbeta * sq / d + gam[i] if d > 0 else math.nan
               for i, (sq, d) in enumerate(zip(square, diag, strict=True))]
        loc_top = gam
        a_mean = [nbeta * max(diag[i], 0.0) + gam[i] for i in range(k)]
        a_slow = [nbeta * max(bottom[i], 0.0) + gam[i] if math.isfinite(bottom[i]) else gam[i]
                  for i in range(k)]
    rules = None
    if step_size is None:
        eps, msgs, _, used = _pilot_step(c, list(range(k)), a0, aw0, loc_top, pre=pre, **pilot)
        if sampler == "sgld":
            rules = [StepRule(a, aw, rho, cuts, loc_top[i], a_mean[i] if thin is None else None,
                              a_slow[i]) for i, (a, aw, rho, cuts) in enumerate(used)]
        for i, r in enumerate(rules or []):
            if not (adapt_batch and math.isfinite(r.rho)):
                continue
            # Rows enough for the measured noise: ρ·nβ/B ≤ 1, the share at B = ⌈nβ⌉ and ρ = 1.
            fewer = min(batch, max(_MIN_BATCH, math.ceil(r.rho * nbeta)))
            if fewer < batch:
                batches[i] = fewer
                eps[i] = r.step(nbeta, fewer, c.x.shape[0])
                msgs[i] += (f"; batch size {fewer} = max({_MIN_BATCH}, ⌈ρ·nβ⌉): the measured "
                            f"minibatch noise at most the step's own bias, ε then {eps[i]:.3g}")
        for i in range(k):
            notes[i].append(msgs[i])
    else:
        eps = [step_size] * k
    if thin is None:
        thins = []
        for i in range(k):
            th, note = auto_thin(eps[i], a_mean[i], sampler)
            thins.append(th)
            notes[i].append(note)
    else:
        thins = [thin] * k
    relax = [relaxation_steps(eps[i], a_slow[i], sampler) for i in range(k)]
    return Settings(eps, gam, thins, notes, list(diag), relax, pre, batches, rules)


@dataclass
class Sampled:
    """What one centre's chains produced: traces (C, T), how many final steps are kept, why."""

    losses: torch.Tensor
    refs: torch.Tensor
    kept: int
    stop: str
    positions: torch.Tensor | None = None  # (C, D, P) after every thin-th step, if recorded


def _done(losses: torch.Tensor, refs: torch.Tensor, nbeta: float, n_params: int) -> bool:
    t = losses.shape[1]
    d = (nbeta * (losses - refs))[:, t - t // 2:].detach().cpu().double().numpy()
    s = summarize_chains(d, RUNAWAY * n_params)
    if len(s.divergent) == d.shape[0]:
        return True
    rhat_ok = not math.isfinite(s.rhat) or s.rhat < _STOP_RHAT
    # The ESS the standard error implies, SD²/SE²: the SE also covers the spread between the
    # chains, which the autocorrelation's ESS misses when each step's minibatch adds white noise.
    keep = [i for i in range(d.shape[0]) if i not in s.divergent]
    implied = float(d[keep].var(ddof=1)) / s.se ** 2 if s.se > 0 else math.inf
    return bool(min(s.ess, implied) >= _TARGET_ESS and rhat_ok and math.isfinite(s.geweke)
                and abs(s.geweke) < _STOP_GEWEKE)


def sample_centres(c: Centres, st: Settings, *, nbeta: float, chains: int, draws: int | None,
                   burnin: int, sampler: str, seed: int, progress: bool,
                   max_steps: int | None, record: bool = False) -> list[Sampled]:
    """Run every centre's chains, those of one batch size together; a fixed length (``draws``)
    or until converged.

    ``record=True`` also keeps the positions after every ``thin``-th step (all centres must then
    share one ``thin``). A centre's draws do not depend on the others: its streams are keyed by
    the centre and the chain, and its batch size is its own.
    """
    out: dict[int, Sampled] = {}
    for b in sorted(set(st.batch)):
        rows = [i for i in range(c.k) if st.batch[i] == b]
        out.update(zip(rows, _sample_rows(c, st, rows, b, nbeta=nbeta, chains=chains,
                                          draws=draws, burnin=burnin, sampler=sampler,
                                          seed=seed, progress=progress, max_steps=max_steps,
                                          record=record), strict=True))
    return [out[i] for i in range(c.k)]


def _sample_rows(c: Centres, st: Settings, rows: list[int], batch: int, *, nbeta: float,
                 chains: int, draws: int | None, burnin: int, sampler: str, seed: int,
                 progress: bool, max_steps: int | None, record: bool) -> list[Sampled]:
    """The chains of the centres ``rows`` (one ``batch`` size), run together.

    An adaptive run whose step was chosen here measures the curvature where its chains stand
    at the end of each length it tries; where that asks for a smaller step (module doc), it
    takes it and starts the run again from there, the draws so far its burn-in.
    """
    dev, dt = c.w.device, c.w.dtype
    begin = dict.fromkeys(rows, 0)  # the step at which each centre's kept run began
    if draws is not None:
        ends = {i: (burnin + draws) * st.thin[i] for i in rows}
        kept = {i: draws * st.thin[i] for i in rows}
    else:
        ends, cap = {}, {}
        for i in rows:
            ends[i], cap[i] = _lengths(st, i, max_steps)
    checks = dict.fromkeys(rows, 0)
    gens = chain_generators(seed, [(c.keys[i], j) for i in rows for j in range(chains)], dev)
    per = lambda vals, ids: torch.tensor(  # noqa: E731
        [float(vals[i]) if not isinstance(vals[i], list) else vals[i][j]
         for i in ids for j in range(chains)], dtype=dt, device=dev)
    active = list(rows)
    state: ChainState | None = None
    traces: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {i: [] for i in rows}
    where: dict[int, list[torch.Tensor]] = {i: [] for i in rows}
    out: dict[int, Sampled] = {}
    t = 0
    while active:
        target = min(ends[i] for i in active)
        centres, y, groups = _batch_for(c, active, chains)
        run = run_chains(c.loss, centres, c.x, y,
                         nbeta=nbeta, step_size=per(st.step_size, active),
                         localization=per(st.localization, active),
                         chains=len(active) * chains, steps=target - t, batch_size=batch,
                         sampler=sampler, generator=gens, groups=groups, state=state,
                         precondition=_chain_metric(st.precondition, active, chains),
                         own_targets=c.own_targets,
                         record_every=st.thin[rows[0]] if record else None, progress=progress,
                         description=f"LLC: {len(active)}×{chains} chains, steps {t}–{target}")
        t = target
        for pos, i in enumerate(active):
            mine = slice(pos * chains, (pos + 1) * chains)
            traces[i].append((run.losses[mine], run.ref_losses[mine]))
            if run.positions is not None:
                where[i].append(run.positions[mine])
        due = [i for i in active if ends[i] == t]
        if draws is None and st.rules is not None and due:
            slot = {i: pos for pos, i in enumerate(active) if i in due}
            stiffer = _recheck(c, st, slot, run.final, chains=chains, nbeta=nbeta, batch=batch,
                               seed=seed, checks=checks, t=t)
            for i in stiffer:
                traces[i], where[i], begin[i] = [], [], t
                ends[i], cap[i] = _lengths(st, i, max_steps, offset=t)
        keep = []
        for pos, i in enumerate(active):
            if ends[i] != t:
                keep.append(pos)
                continue
            losses = torch.cat([a for a, _ in traces[i]], dim=1)
            refs = torch.cat([b for _, b in traces[i]], dim=1)
            path = torch.cat(where[i], dim=1) if where[i] else None
            length = t - begin[i]
            if draws is not None:
                out[i] = Sampled(losses, refs, kept[i], "fixed", path)
            elif _done(losses, refs, nbeta, c.w.shape[1]):
                out[i] = Sampled(losses, refs, length // 2, "converged", path)
            elif t >= cap[i]:
                out[i] = Sampled(losses, refs, length // 2, "cap", path)
            else:
                ends[i] = min(t + length, cap[i])
                keep.append(pos)
        if len(keep) < len(active):
            going = [pos * chains + j for pos in keep for j in range(chains)]
            state = run.state.select(going) if keep else None
            gens = [run.state.generators[r] for r in going]
            active = [active[pos] for pos in keep]
        else:
            state = run.state
    return [out[i] for i in rows]


def _lengths(st: Settings, i: int, max_steps: int | None, offset: int = 0) -> tuple[int, int]:
    """The steps at which centre ``i``'s adaptive run started at ``offset`` first ends,
    max(τ, 200) later or at its cap, and its cap: 8 times that length or 400 draws, whichever
    is longer (``max_steps`` if given)."""
    first = max(st.relax[i], _MIN_STEPS)
    cap = offset + (max_steps or max(first * 2 ** _CAP_DOUBLINGS, _CAP_DRAWS * st.thin[i]))
    return min(offset + first, cap), cap


def _recheck(c: Centres, st: Settings, slot: dict[int, int], final: torch.Tensor, *,
             chains: int, nbeta: float, batch: int, seed: int, checks: dict[int, int],
             t: int) -> list[int]:
    """The step rule applied where the chains of the centres in ``slot`` stand (centre i's are
    the rows slot[i]·chains … of ``final``); returns the centres whose step it cut by more than
    1.5×, with ε, thin and τ updated for them (at most ``_RECHECKS`` times a centre)."""
    due = [i for i in slot if checks[i] < _RECHECKS]
    if not due:
        return []
    pts = torch.cat([final[slot[i] * chains:(slot[i] + 1) * chains] for i in due])
    gens = chain_generators(seed, [(c.keys[i], _RECHECK_KEY - checks[i], j)
                                   for i in due for j in range(chains)], c.w.device)
    tops, weighted, rho = _chain_curvature(c, due, pts, chains, st.precondition, gens,
                                           sgld=True, noise=True)
    n = c.x.shape[0]
    cut = []
    for k, i in enumerate(due):
        checks[i] += 1
        r = st.rules[i]
        if not (math.isfinite(tops[k]) and math.isfinite(weighted[k])):
            continue
        a = max(r.a_max, nbeta * tops[k] + r.loc_top)
        aw = max(r.a_w, nbeta * weighted[k] + r.loc_top) if weighted[k] > 0 else r.a_w
        rh = max(v for v in (r.rho, rho[k], 0.0) if math.isfinite(v))
        new = replace(r, a_max=a, a_w=aw, rho=rh)
        eps = new.step(nbeta, batch, n)
        if not eps < st.step_size[i] / 1.5:
            continue
        st.rules[i] = new
        st.step_size[i] = eps
        if r.a_mean is not None:
            st.thin[i] = auto_thin(eps, r.a_mean, "sgld")[0]
        st.relax[i] = relaxation_steps(eps, r.a_slow, "sgld")
        st.notes[i].append(f"after {t} steps the chains stood where a_w = {aw:.4g}, a_max = "
                           f"{a:.4g}, ρ = {rh:.2g}: step ε = {eps:.3g} and the run started "
                           f"again from there")
        cut.append(i)
    return cut
