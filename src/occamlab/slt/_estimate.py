"""The LLC engine: calibrate and sample K centres w* (checkpoints) × C chains in one computation.

:func:`occamlab.slt.llc` is this with K = 1; :func:`occamlab.slt.trajectory` with one centre per
checkpoint. Every random stream is keyed by (checkpoint, chain) (calibration by (checkpoint,
purpose)), so a checkpoint's estimate does not depend on which other checkpoints run with it.

Default settings (one rule each, shared with :func:`occamlab.slt.calibrate`), from the Hessian H
of L_n at w* (power iteration and Hutchinson probes, :func:`occamlab.slt._setup.curvature`),
with a = nβ·(curvature) + γ the curvature of the sampled potential:

- Batch B = min(n, ⌈nβ⌉) rows. Minibatch gradients add ρ·(nβ/B)·εa/4 to SGLD's variance
  inflation in a direction of curvature a, with ρ = tr(Σ_g)/tr(H) (Σ_g the covariance of one
  row's gradient; ρ ≈ 1 at a well-specified minimum, where Fisher = Hessian, and ≈ 0 for
  noise-free targets such as ``relabel=True``); B ≥ nβ keeps that at most the
  discretization's own εa/4. ρ is measured at the end of the first pilot run.
- Step size. SGLD's stationary variance in a direction of curvature a is 1/(a·(1 − εa/4)):
  inflated by ≈ εa/4, plus the minibatch's share. Every direction the loss confines
  quadratically contributes ½ to λ, so the relative bias of that (regular) part of λ̂ is the
  contribution-weighted mean ε·a_w·(1 + ρ·nβ/B)/4 with a_w = nβ·tr(H²)/tr(H) + γ; ε holds it
  at ``BIAS`` (2.5%), and at most ``STEP_CAP``/a_max (no single direction inflated by more
  than 1/(1 − 1/16) = 6.7%, far from the stability limit εa = 4). The stiffest curvature is
  refreshed along short pilot runs (the potential can be stiffer away from w*), and a_w scaled
  with it. Bounding by a_w rather than a_max matters for singular models: a few stiff
  directions no longer set the pace of the flat ones, whose exploration is what λ − (regular
  part) is made of.
- Localization γ = P/R² with R = 3: in the directions the loss does not confine (symmetries,
  or w* degenerate to all orders) the chains stay within E‖w − w*‖² = P/γ = R² of w*, and a
  regular direction of curvature a loses γ/(a + γ) of its ½. Unlike a γ proportional to the
  curvature, this does not grow with the stiff directions: those do not need it, and a γ
  that large confines the higher-order directions of a singular model below their own scale
  and deflates λ̂ (a deep linear network at a rank-1 saddle, nβ = 1086, gave 5.0 at γ = 49
  against Aoyagi's 6.5, 6.4 at γ = 10). A γ → 0 lets chains wander into regions of other
  curvature (at the origin of the same network, γ = 0.0012 gave 5.2 against 4.5).
- Run length (``draws=None``). The slowest direction relaxes in τ = 2/(ε·(a_min + γ)) steps
  (a_min the smallest curvature of nβ·H, often 0: then the localization alone sets it). The
  chains first run T = max(τ, 200) steps; the first half is burn-in and the last half is kept
  (as Gelman & Rubin's "discard the first half" rule, *Bayesian Data Analysis* 3rd ed. §11.4);
  the run stops when the kept draws have a pooled effective sample size ≥ 400 (Vehtari et al.
  2021, Bayesian Analysis 16(2), §4: "ESS > 400" with 4 chains), split-R̂ < 1.05 and |Geweke
  z| < 2; otherwise T doubles, up to a cap of 8 times the first length or 400 draws of
  ``thin`` steps (the relaxation time of a typical direction), whichever is longer, where a
  failing diagnostic is reported as a warning.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from occamlab.slt._diagnostics import summarize_chains
from occamlab.slt._samplers import ChainState, chain_generators, run_chains
from occamlab.slt._setup import curvature, gradient_noise

# Relative bias of the regular part of λ̂ from discretization and minibatch noise (module doc).
BIAS = 0.025
# ε·a_max at most this: the stiffest direction's variance inflated by at most 1/(1 − 1/16).
STEP_CAP = 0.25
# SGNHT and pSGLD move by ~ε·√a per step: ε = c/√a_max for them.
STEP_FRACTION = 0.05
# γ = P/R²: the chains' ball around w* (module doc).
LOC_RADIUS = 3.0
_PILOT_STEPS = 100
# Steps per draw of a fixed run (``draws`` given): 1/(ε·a_mean), at most 100.
MAX_THIN = 100
# A chain whose estimate passes this many times the parameter count ran away: λ ≤ P/2 always.
RUNAWAY = 10.0
_TARGET_ESS, _STOP_RHAT, _STOP_GEWEKE = 400.0, 1.05, 2.0
_MIN_STEPS, _CAP_DOUBLINGS, _CAP_DRAWS = 200, 3, 400
# Keys of the calibration streams (chains use keys ≥ 0).
_CURV_KEY, _PILOT_KEY = -1, -100


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


def auto_localization(n_params: int) -> tuple[float, str]:
    gamma = n_params / LOC_RADIUS ** 2
    return gamma, (f"localization γ = {gamma:.3g} = P/R² with P = {n_params}, R = "
                   f"{LOC_RADIUS:g}: directions the loss does not confine stay within "
                   f"E‖w − w*‖² = R² of w*")


def relaxation_steps(eps: Any, a_min: float, gamma: float, sampler: str) -> int:
    """τ = 2/(ε·(a_min + γ)) steps (2/(ε·√(a_min + γ)) for SGNHT, pSGLD): the slowest direction."""
    e = min(eps) if isinstance(eps, list) else eps
    a = max(a_min, 0.0) + gamma if math.isfinite(a_min) else gamma
    rate = e * (a if sampler == "sgld" else math.sqrt(max(a, 0.0)))
    return int(math.ceil(2 / rate)) if rate > 0 else 10 ** 9


def auto_thin(step_size: Any, a_mean: float, sampler: str) -> tuple[int, str]:
    eps = min(step_size) if isinstance(step_size, list) else step_size
    rate = eps * (a_mean if sampler == "sgld" else math.sqrt(max(a_mean, 0.0)))
    if not rate > 0:
        return MAX_THIN, f"{MAX_THIN} steps per draw (no curvature scale at w*)"
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

    @property
    def k(self) -> int:
        return self.w.shape[0]


@dataclass
class Settings:
    """Per-centre sampler settings after calibration."""

    step_size: list[Any]
    localization: list[float]
    thin: list[int]
    notes: list[list[str]]
    mean_curvature: list[float]  # tr(H)/P at each centre (NaN when not measured)
    relax: list[int]  # τ: steps for the slowest direction to relax (the first run length)


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


def _pilot_step(c: Centres, rows: list[int], top: list[float], weighted: list[float], *,
                nbeta: float, gamma: list[float], chains: int, batch: int, sampler: str,
                seed: int) -> tuple[list[float], list[str]]:
    """Step sizes from the curvature of the sampled potential, refreshed along short pilots.

    The first pilot's end also measures the minibatch noise: ρ = tr(Σ_g)/tr(H) there (1 when
    the per-sample gradient covariance is the Hessian), so its share is ρ·nβ/B.
    """
    n = c.x.shape[0]
    noise = dict.fromkeys(rows, minibatch_share(nbeta, batch, n))
    a = {k: nbeta * top[k] + gamma[k] for k in rows}
    aw = {k: nbeta * weighted[k] + gamma[k] for k in rows}
    eps = {k: step_for(a[k], aw[k], sampler, noise[k]) for k in rows}
    where = dict.fromkeys(rows, "w*")
    notes: dict[int, list[str]] = {k: [] for k in rows}
    todo = list(rows)
    for rnd in range(4):
        if not todo:
            break
        gens = chain_generators(seed, [(c.keys[k], _PILOT_KEY - rnd, j)
                                       for k in todo for j in range(chains)], c.w.device)
        centres, y, groups = _batch_for(c, todo, chains)
        per = lambda vals: torch.tensor([vals[k] for k in todo for _ in range(chains)],  # noqa
                                        dtype=c.w.dtype, device=c.w.device)
        run = run_chains(c.loss, centres, c.x, y,
                         nbeta=nbeta, step_size=per(eps), localization=per(gamma),
                         chains=len(todo) * chains, steps=_PILOT_STEPS, batch_size=batch,
                         sampler=sampler, generator=gens, groups=groups)
        ok = (torch.isfinite(run.final).all(dim=1) & torch.isfinite(run.losses).all(dim=1))
        ok = ok.reshape(len(todo), chains).all(dim=1).tolist()
        finals = run.final
        curv_gens = chain_generators(seed, [(c.keys[k], _PILOT_KEY - 10 - rnd, j)
                                            for k in todo for j in range(chains)], c.w.device)
        if c.per_centre_y:  # targets per point: the centre's, for each of its chains
            yy = c.y[todo][:, :1024].repeat_interleave(chains, 0)
        else:
            yy = c.y
        measure = rnd == 0 and sampler == "sgld"
        tops, diag, _, _ = curvature(c.loss, torch.nan_to_num(finals), c.x, yy,
                                     generators=curv_gens, per_point_y=c.per_centre_y,
                                     trace=measure, lowest=False)
        tops = tops.reshape(len(todo), chains).max(dim=1).values.tolist()
        if measure:
            sig = gradient_noise(c.loss, torch.nan_to_num(finals), c.x, yy,
                                 per_point_y=c.per_centre_y)
            rho = (sig.reshape(len(todo), chains).sum(dim=1)
                   / diag.reshape(len(todo), chains).sum(dim=1)).tolist()
            # Two significant digits (8 groups estimate ρ to ~20%): the step then does not
            # depend on the rounding of how many centres were batched together.
            rho = [float(f"{v:.2g}") if math.isfinite(v) else v for v in rho]
        nxt = []
        for i, k in enumerate(todo):
            if measure and ok[i] and math.isfinite(rho[i]) and rho[i] >= 0:
                noise[k] = minibatch_share(nbeta, batch, n, rho[i])
                notes[k].append(f"minibatch noise ρ = tr(Σ_g)/tr(H) = {rho[i]:.3g} at the "
                                f"pilot's end")
                eps[k] = step_for(a[k], aw[k], sampler, noise[k])
            if not ok[i]:
                eps[k] /= 10
                notes[k].append("a pilot chain diverged: step divided by 10")
                nxt.append(k)
                continue
            a_pilot = nbeta * tops[i] + gamma[k]
            if a_pilot > 1.5 * a[k]:
                # The spectrum is taken to stiffen as a whole: a_w scales with a_max.
                aw[k] *= a_pilot / a[k]
                a[k], where[k] = a_pilot, f"the end of a {_PILOT_STEPS}-step pilot"
                eps[k] = step_for(a[k], aw[k], sampler, noise[k])
                nxt.append(k)
        todo = nxt
    msgs = []
    for k in rows:
        if sampler == "sgld":
            m = (f"step size ε = {eps[k]:.3g} = min({4 * BIAS:g}/(a_w·(1 + ρ·nβ/B)), "
                 f"{STEP_CAP}/a_max) with a_w = nβ·tr(H²)/tr(H) + γ = {aw[k]:.4g} and "
                 f"a_max = nβ·λ_max(H) + γ = {a[k]:.4g} (found at {where[k]}): the regular "
                 f"part of λ̂ biased by ≈ {BIAS:.1%} at most")
        else:
            m = (f"step size ε = {eps[k]:.3g} = c/√a with c = {STEP_FRACTION} and "
                 f"a = nβ·λ_max(H) + γ = {a[k]:.4g} (found at {where[k]})")
        msgs.append("; ".join([m, *notes[k]]))
    return [eps[k] for k in rows], msgs


def calibrate_centres(c: Centres, *, nbeta: float, step_size: Any, localization: Any,
                      thin: int | None, chains: int, batch: int, sampler: str,
                      seed: int, measure: bool = True) -> Settings:
    """Localization, step size and steps per draw for each centre (given values kept).

    ``measure=False`` (a fixed run whose caller does not read ``mean_curvature``) skips the
    curvature at w*, 41 Hessian-vector products per centre, when ε and thin are given too:
    ``mean_curvature`` is then NaN and ``relax`` the localization's alone.
    """
    k, n_params = c.k, c.w.shape[1]
    notes: list[list[str]] = [[] for _ in range(k)]
    if measure or step_size is None or thin is None:
        gens = chain_generators(seed, [(key, _CURV_KEY) for key in c.keys], c.w.device)
        curv = curvature(c.loss, c.w, c.x, c.y, generators=gens, per_point_y=c.per_centre_y)
        top, diag, square, bottom = (t.tolist() for t in curv)
    else:
        top = diag = square = bottom = [math.nan] * k
    weighted = [sq / d if d > 0 else math.nan for sq, d in zip(square, diag, strict=True)]
    if localization is None:
        gam = []
        for i in range(k):
            g, note = auto_localization(n_params)
            gam.append(g)
            notes[i].append(note)
    else:
        gam = [float(localization)] * k
    if step_size is None:
        eps, msgs = _pilot_step(c, list(range(k)), top, weighted, nbeta=nbeta, gamma=gam,
                                chains=chains, batch=batch, sampler=sampler, seed=seed)
        for i in range(k):
            notes[i].append(msgs[i])
    else:
        eps = [step_size] * k
    if thin is None:
        thins = []
        for i in range(k):
            th, note = auto_thin(eps[i], nbeta * max(diag[i], 0.0) + gam[i], sampler)
            thins.append(th)
            notes[i].append(note)
    else:
        thins = [thin] * k
    relax = [relaxation_steps(eps[i], nbeta * bottom[i], gam[i], sampler) for i in range(k)]
    return Settings(eps, gam, thins, notes, list(diag), relax)


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
    return bool(s.ess >= _TARGET_ESS and rhat_ok and math.isfinite(s.geweke)
                and abs(s.geweke) < _STOP_GEWEKE)


def sample_centres(c: Centres, st: Settings, *, nbeta: float, chains: int, draws: int | None,
                   burnin: int, batch: int, sampler: str, seed: int, progress: bool,
                   max_steps: int | None, record: bool = False) -> list[Sampled]:
    """Run every centre's chains together; a fixed length (``draws``) or until converged.

    ``record=True`` also keeps the positions after every ``thin``-th step (all centres must then
    share one ``thin``).
    """
    k, dev, dt = c.k, c.w.device, c.w.dtype
    if draws is not None:
        ends = [(burnin + draws) * st.thin[i] for i in range(k)]
        kept = [draws * st.thin[i] for i in range(k)]
    else:
        first = [max(st.relax[i], _MIN_STEPS) for i in range(k)]
        cap = [max_steps or max(first[i] * 2 ** _CAP_DOUBLINGS, _CAP_DRAWS * st.thin[i])
               for i in range(k)]
        ends = [min(first[i], cap[i]) for i in range(k)]
    gens = chain_generators(seed, [(key, j) for key in c.keys for j in range(chains)], dev)
    per = lambda vals, rows: torch.tensor(  # noqa: E731
        [float(vals[i]) if not isinstance(vals[i], list) else vals[i][j]
         for i in rows for j in range(chains)], dtype=dt, device=dev)
    active = list(range(k))
    state: ChainState | None = None
    traces: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {i: [] for i in range(k)}
    where: dict[int, list[torch.Tensor]] = {i: [] for i in range(k)}
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
                         record_every=st.thin[0] if record else None, progress=progress,
                         description=f"LLC: {len(active)}×{chains} chains, steps {t}–{target}")
        t = target
        for pos, i in enumerate(active):
            rows = slice(pos * chains, (pos + 1) * chains)
            traces[i].append((run.losses[rows], run.ref_losses[rows]))
            if run.positions is not None:
                where[i].append(run.positions[rows])
        keep = []
        for pos, i in enumerate(active):
            if ends[i] != t:
                keep.append(pos)
                continue
            losses = torch.cat([a for a, _ in traces[i]], dim=1)
            refs = torch.cat([b for _, b in traces[i]], dim=1)
            pos = torch.cat(where[i], dim=1) if where[i] else None
            if draws is not None:
                out[i] = Sampled(losses, refs, kept[i], "fixed", pos)
            elif _done(losses, refs, nbeta, c.w.shape[1]):
                out[i] = Sampled(losses, refs, t // 2, "converged", pos)
            elif t >= cap[i]:
                out[i] = Sampled(losses, refs, t // 2, "cap", pos)
            else:
                ends[i] = min(2 * t, cap[i])
                keep.append(pos)
        if len(keep) < len(active):
            rows = [pos * chains + j for pos in keep for j in range(chains)]
            state = run.state.select(rows) if keep else None
            gens = [run.state.generators[r] for r in rows]
            active = [active[pos] for pos in keep]
        else:
            state = run.state
    return [out[i] for i in range(k)]
