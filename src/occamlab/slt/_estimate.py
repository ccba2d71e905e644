"""The LLC engine: calibrate and sample K centres w* (checkpoints) × C chains in one computation.

:func:`occamlab.slt.llc` is this with K = 1; :func:`occamlab.slt.trajectory` with one centre per
checkpoint. Every random stream is keyed by (checkpoint, chain) (calibration by (checkpoint,
purpose)), so a checkpoint's estimate does not depend on which other checkpoints run with it.

Run length. With ``draws=None`` each checkpoint's chains run until their own draws say they are
done, by doubling (as Gelman & Rubin's "discard the first half" rule, *Bayesian Data Analysis*
3rd ed. §11.4): after T steps the first T/2 are burn-in and the last T/2 are kept; the run stops
when the kept draws have a pooled effective sample size ≥ 400 (Vehtari et al. 2021, Bayesian
Analysis 16(2), §4: "ESS > 400" with 4 chains), split-R̂ < 1.05 and |Geweke z| < 2, and at
least ``2·25·thin`` steps have run; otherwise T doubles, up to a cap of ``400·thin`` steps (the
old fixed default of 200 + 200 draws), where a failing diagnostic is reported as a warning.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from occamlab.slt._diagnostics import summarize_chains
from occamlab.slt._samplers import ChainState, chain_generators, run_chains
from occamlab.slt._setup import curvature

# SGLD's discretization error is O(ε·a) for curvature a (a Gaussian's variance is inflated by
# 1/(1 − εa/4)); ε = c/a_max keeps it ≲ c/4 in the stiffest direction. SGNHT and pSGLD move by
# ~ε·√a per step, hence ε = c/√a_max for them.
STEP_FRACTION = 0.05
# γ = 1% of nβ times the mean curvature: a regular direction's estimate is then a/(a+γ) of ½.
LOC_FRACTION = 0.01
_PILOT_STEPS = 100
# Up to 100 steps per draw: deep linear networks have a_max/a_mean ~ 10, so a direction of mean
# curvature relaxes in ~1/(ε·a_mean) = 20·a_max/a_mean steps (80–320 uncapped).
MAX_THIN = 100
DEFAULT_BATCH = 1024
# A chain whose estimate passes this many times the parameter count ran away: λ ≤ P/2 always.
RUNAWAY = 10.0
_TARGET_ESS, _STOP_RHAT, _STOP_GEWEKE = 400.0, 1.05, 2.0
_MIN_DRAWS, _CAP_DRAWS = 25, 400
# Keys of the calibration streams (chains use keys ≥ 0).
_CURV_KEY, _PILOT_KEY = -1, -100


def step_for(a: float, sampler: str) -> float:
    return STEP_FRACTION / a if sampler == "sgld" else STEP_FRACTION / math.sqrt(a)


def auto_localization(h: float, nbeta: float) -> tuple[float, str]:
    if h > 0 and math.isfinite(h):
        gamma = LOC_FRACTION * nbeta * h
        return gamma, (f"localization γ = {gamma:.3g} = {LOC_FRACTION}·nβ·tr(H)/P with "
                       f"tr(H)/P = {h:.3g} at w* (a regular direction then loses "
                       f"γ/(nβh+γ) ≈ {LOC_FRACTION:.0%} of its ½)")
    return 1.0, (f"localization γ = 1 (the mean curvature at w*, {h:.3g}, gives no scale: w* is "
                 f"degenerate to second order; γ = 1 confines chains to |w − w*| ~ 1)")


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


def _pilot_step(c: Centres, rows: list[int], top: list[float], *, nbeta: float,
                gamma: list[float], chains: int, batch: int, sampler: str, seed: int,
                ) -> tuple[list[float], list[str]]:
    """Step sizes from the curvature of the sampled potential, refreshed along short pilots."""
    a = {k: nbeta * top[k] + gamma[k] for k in rows}
    eps = {k: step_for(a[k], sampler) for k in rows}
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
        tops, _ = curvature(c.loss, torch.nan_to_num(finals), c.x, yy, generators=curv_gens,
                            per_point_y=c.per_centre_y, trace=False)
        tops = tops.reshape(len(todo), chains).max(dim=1).values.tolist()
        nxt = []
        for i, k in enumerate(todo):
            if not ok[i]:
                eps[k] /= 10
                notes[k].append("a pilot chain diverged: step divided by 10")
                nxt.append(k)
                continue
            a_pilot = nbeta * tops[i] + gamma[k]
            if a_pilot > 1.5 * a[k]:
                a[k], where[k] = a_pilot, f"the end of a {_PILOT_STEPS}-step pilot"
                eps[k] = step_for(a[k], sampler)
                nxt.append(k)
        todo = nxt
    form = "c/a" if sampler == "sgld" else "c/√a"
    msgs = []
    for k in rows:
        m = (f"step size ε = {eps[k]:.3g} = {form} with c = {STEP_FRACTION} and "
             f"a = nβ·λ_max(H) + γ = {a[k]:.4g}, the stiffest curvature of the sampled potential "
             f"(found at {where[k]}); SGLD's bias is O(ε·a)")
        msgs.append("; ".join([m, *notes[k]]))
    return [eps[k] for k in rows], msgs


def calibrate_centres(c: Centres, *, nbeta: float, step_size: Any, localization: Any,
                      thin: int | None, chains: int, batch: int, sampler: str,
                      seed: int) -> Settings:
    """Localization, step size and steps per draw for each centre (given values kept)."""
    k = c.k
    notes: list[list[str]] = [[] for _ in range(k)]
    top = diag = [math.nan] * k
    if localization is None or step_size is None or thin is None:
        gens = chain_generators(seed, [(key, _CURV_KEY) for key in c.keys], c.w.device)
        t, d = curvature(c.loss, c.w, c.x, c.y, generators=gens, per_point_y=c.per_centre_y)
        top, diag = t.tolist(), d.tolist()
    if localization is None:
        gam = []
        for i in range(k):
            g, note = auto_localization(diag[i], nbeta)
            gam.append(g)
            notes[i].append(note)
    else:
        gam = [float(localization)] * k
    if step_size is None:
        eps, msgs = _pilot_step(c, list(range(k)), top, nbeta=nbeta, gamma=gam, chains=chains,
                                batch=batch, sampler=sampler, seed=seed)
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
    return Settings(eps, gam, thins, notes, list(diag))


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
        cap = [max_steps or _CAP_DRAWS * st.thin[i] for i in range(k)]
        ends = [min(2 * _MIN_DRAWS * st.thin[i], cap[i]) for i in range(k)]
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
