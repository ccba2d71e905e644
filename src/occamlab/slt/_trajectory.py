"""The LLC over training: every checkpoint of one architecture sampled in one computation.

Hoogland et al. (arXiv 2402.02364, §3) read developmental stages off λ̂(w_t) at checkpoints t:
the LLC rises when training learns new structure (loss falls while complexity grows) and falls
when it simplifies. :func:`trajectory` gives λ̂ at K checkpoints; all K × C chains advance in one
vectorized sampler run, each checkpoint with its own calibration (step size, localization, run
length), and every random stream keyed by (checkpoint, chain) — the checkpoint's step when the
steps are integers, else its index — so checkpoint k's estimate does not depend on how many
others run beside it.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import vmap

from occamlab._check import check_bool
from occamlab._result import Result
from occamlab._torch import as_tensor, call, flatten, model_device_dtype, trainable_params
from occamlab.slt._estimate import Centres, Settings
from occamlab.slt._llc import LLCResult, LLCWarning, check_options, estimate
from occamlab.slt._samplers import make_loss
from occamlab.slt._setup import (
    check_loss,
    check_model,
    full_loss,
    load_data,
    select_params,
)

__all__ = ["Trajectory", "trajectory"]

# A checkpoint whose linear term would move the localized posterior by more than this many
# units of nβ·L below L(w*) is far from a minimum (see :func:`trajectory`).
_SLOPE_WARN = 1.0
_CHUNK = 4096


@dataclass(frozen=True, repr=False)
class Trajectory(Result):
    """The LLC at K checkpoints.

    Fields:
        steps: (K,) training step of each checkpoint.
        llc: (K,) λ̂.  se: (K,) its standard error.
        loss: (K,) the training loss L_n(w_t) on the given targets.
        results: the K :class:`LLCResult`\\s.
        relabel: whether the targets were replaced by each checkpoint's outputs.
    """

    steps: np.ndarray
    llc: np.ndarray
    se: np.ndarray
    loss: np.ndarray
    results: tuple[LLCResult, ...]
    relabel: bool

    def plot(self, ax: Any = None, *, stages: bool = True, theory: Sequence[float] | None = None
             ) -> Any:
        """λ̂ ± SE and the loss against the training step (log x), stages shaded.

        Arguments:
            ax: the Axes of λ̂ (the loss goes on a twin axis).
            stages: shade the stages of :func:`occamlab.slt.stages` (type A blue, B orange).
            theory: optional known λ at each checkpoint, drawn as open circles.

        Returns:
            The Axes of λ̂.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 3.5))
        x = np.asarray(self.steps, dtype=float)
        x = np.where(x > 0, x, np.nan) if (x > 0).any() else x + 1
        ax.errorbar(x, self.llc, yerr=self.se, fmt="o-", color="C0", ms=4, capsize=2,
                    label="λ̂ ± SE")
        if theory is not None:
            ax.plot(x, theory, "o", mfc="none", color="C3", label="theory")
        ax.set_xscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel("λ̂" + (" (relabelled)" if self.relabel else ""))
        loss_ax = ax.twinx()
        loss_ax.plot(x, self.loss, "-", color="0.4", lw=1, label="training loss")
        loss_ax.set_ylabel("training loss")
        if stages and len(self.steps) >= 3:
            try:
                from occamlab import slt

                st = slt.stages(self)
            except (AttributeError, ValueError):
                st = None
            if st is not None:
                for a, b, kind in zip(st.boundaries[:-1], st.boundaries[1:], st.kinds,
                                      strict=True):
                    ax.axvspan(max(a, 1e-12), b, color="C0" if kind == "A" else "C1",
                               alpha=0.08, zorder=0)
        lines = ax.get_legend_handles_labels()
        more = loss_ax.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="upper left")
        return ax


def _checkpoints(checkpoints: Any) -> tuple[nn.Module, list[dict[str, torch.Tensor]]]:
    """A template module and each checkpoint's state (parameters and buffers)."""
    if isinstance(checkpoints, tuple) and len(checkpoints) == 2 and isinstance(
            checkpoints[0], nn.Module):
        model, states = checkpoints
        states = list(states)
        template = copy.deepcopy(model)
        want = {k: tuple(v.shape) for k, v in template.state_dict().items()}
        out = []
        for i, sd in enumerate(states):
            if not isinstance(sd, dict):
                raise TypeError(f"checkpoints[1][{i}] must be a state dict, got "
                                f"{type(sd).__name__}")
            got = {k: tuple(torch.as_tensor(v).shape) for k, v in sd.items()}
            if got != want:
                missing = sorted(set(want) - set(got))
                extra = sorted(set(got) - set(want))
                wrong = sorted(k for k in set(want) & set(got) if want[k] != got[k])
                raise ValueError(f"state dict {i} does not fit the model: missing {missing}, "
                                 f"unexpected {extra}, wrong shape {wrong}")
            out.append(sd)
        template.load_state_dict(out[0])
        return template, out
    if isinstance(checkpoints, nn.Module) or not isinstance(checkpoints, Sequence):
        raise TypeError("checkpoints must be a sequence of nn.Modules of one architecture or "
                        f"(model, [state_dict, ...]), got {type(checkpoints).__name__}")
    models = list(checkpoints)
    if not models or not all(isinstance(m, nn.Module) for m in models):
        raise TypeError("checkpoints must be a non-empty sequence of nn.Modules")

    def signature(m: nn.Module) -> list:
        return [(k, type(v).__name__) for k, v in m.named_modules()] + [
            (k, tuple(v.shape)) for k, v in m.state_dict().items()]

    ref = signature(models[0])
    for i, m in enumerate(models[1:], start=1):
        if signature(m) != ref:
            raise ValueError(f"checkpoints[{i}] has a different architecture from "
                             f"checkpoints[0]: all checkpoints must share one architecture")
    return models[0], [m.state_dict() for m in models]


def trajectory(checkpoints: Any, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
               data: Any, *, steps: Sequence[float] | None = None, relabel: bool = False,
               params: Sequence[str] | None = None, chains: int = 4, draws: int | None = None,
               seed: int = 0, progress: bool = True, **sampler: Any) -> Trajectory:
    """λ̂ at every checkpoint of a training run, all sampled in one batched computation.

    Arguments:
        checkpoints: K ≥ 1 ``nn.Module``\\s of one architecture (in eval mode), or
            ``(model, [state_dict, …])``.
        loss_fn, data: as for :func:`occamlab.slt.llc` (the training data).
        steps: the training step of each checkpoint, increasing; default 0, 1, …, K−1.
        relabel: replace the targets by each checkpoint's own outputs f(x; w_t), so that w_t is
            an exact minimum of its loss. Use it for checkpoints that are not minima of the
            training loss — the saddles and plateaus that training passes through — with a
            regression loss (minimized by matching outputs): λ̂ is then the LLC of the function
            the checkpoint computes. Not for classification losses (an error).
        params: names of the parameters to sample (weight-refined LLC), as for ``llc``.
        chains, draws, seed, progress: as for ``llc``; every other keyword of ``llc``
            (``nbeta``, ``step_size``, ``localization``, ``thin``, ``batch_size``,
            ``max_steps``, ``sampler``, ``precondition``) is passed on too.

    Returns:
        A :class:`Trajectory`. A checkpoint far from any minimum (without ``relabel``) is
        named in an :class:`LLCWarning`: its full-data gradient g would pull the localized
        posterior downhill by ≈ (nβ·‖g‖)²/(2·a), a = nβ·tr(H)/P + γ, in units of nβ·L — more
        than 1 means λ̂ there measures the slope, not the degeneracy.
    """
    relabel = check_bool(relabel, "relabel")
    unknown = sorted(set(sampler) - {"nbeta", "step_size", "localization", "thin",
                                     "batch_size", "max_steps", "sampler", "burnin",
                                     "precondition"})
    if unknown:
        raise TypeError(f"trajectory() got unexpected keyword(s) {unknown}")
    opts = check_options(chains=chains, draws=draws, burnin=sampler.pop("burnin", None),
                         thin=sampler.pop("thin", None), max_steps=sampler.pop("max_steps", None),
                         sampler=sampler.pop("sampler", "sgld"), seed=seed,
                         precondition=sampler.pop("precondition", None))
    template, states = _checkpoints(checkpoints)
    check_model(template)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(output, target), got "
                        f"{type(loss_fn).__name__}")
    k = len(states)
    if steps is None:
        step_arr = np.arange(k, dtype=float)
    else:
        step_arr = as_tensor(steps, "steps", dtype=torch.float64, ndim=1).numpy()
        if step_arr.size != k:
            raise ValueError(f"steps has {step_arr.size} entries for {k} checkpoints")
        if k > 1 and not (np.diff(step_arr) > 0).all():
            raise ValueError(f"steps must be strictly increasing, got {step_arr.tolist()}")
    # Random streams are keyed by the checkpoint's step when steps are integers (stable when
    # checkpoints are added or a run resumes), else by its index.
    integral = steps is not None and bool(np.all(step_arr == np.round(step_arr)))
    keys = [int(v) for v in step_arr] if integral else list(range(k))
    like = select_params(trainable_params(template), params)
    device, dtype = model_device_dtype(template)
    _same_buffers(template, states, like)
    w = torch.stack([flatten({n: torch.as_tensor(sd[n]).to(device, dtype) for n in like})
                     for sd in states])
    x, y, loader_batch = load_data(data, device, dtype)
    loss = make_loss(template, loss_fn, like)
    check_loss(loss, w[0], x, y)
    train_loss = [full_loss(loss, w[i], x, y) for i in range(k)]
    if relabel:
        if not y.is_floating_point() or isinstance(loss_fn, nn.CrossEntropyLoss | nn.NLLLoss):
            raise ValueError("relabel=True needs a regression loss with float targets (it "
                             "replaces them by the checkpoint's outputs); for a classification "
                             "loss, run without relabel")
        targets = torch.stack([_outputs(template, loss.split(w[i]), x) for i in range(k)])
        if targets.shape[1:] != y.shape:
            raise ValueError(f"relabel: the model's outputs {tuple(targets.shape[1:])} do not "
                             f"have the targets' shape {tuple(y.shape)}")
        centres = Centres(loss, w, x, targets, True, keys, own_targets=True)
        loss_star = [full_loss(loss, w[i], x, targets[i]) for i in range(k)]
    else:
        centres = Centres(loss, w, x, y, False, keys)
        loss_star = train_loss

    def far_from_minimum(st: Settings, nbeta: float) -> None:
        if relabel:
            return
        g = _gradients(loss, w, x, y)
        names = []
        for i in range(k):
            a = nbeta * max(st.mean_curvature[i], 0.0) + st.localization[i]
            slope = (nbeta * float(g[i])) ** 2 / (2 * a) if a > 0 else math.inf
            if slope > _SLOPE_WARN:
                names.append(f"step {step_arr[i]:g} (≈ {slope:.3g})")
        if names:
            warnings.warn(f"checkpoint(s) far from a minimum — the gradient pulls the posterior "
                          f"below L(w*) by ≈ (nβ‖g‖)²/2a in nβ·L units: {', '.join(names)}; "
                          f"λ̂ there measures the slope (use relabel=True for a regression loss)",
                          LLCWarning, stacklevel=3)

    results = estimate(centres, loss_star, n=x.shape[0], loader_batch=loader_batch,
                       names=tuple(like), progress=progress, inspect=far_from_minimum,
                       inspect_curvature=not relabel,
                       nbeta=sampler.get("nbeta"), step_size=sampler.get("step_size"),
                       localization=sampler.get("localization"),
                       batch_size=sampler.get("batch_size"), **opts)
    return Trajectory(steps=step_arr, llc=np.array([r.mean for r in results]),
                      se=np.array([r.se for r in results]), loss=np.array(train_loss),
                      results=tuple(results), relabel=relabel)


def _same_buffers(template: nn.Module, states: list[dict], like: dict) -> None:
    # Buffers (and frozen parameters) come from the template: they must not differ.
    fixed = [k for k in template.state_dict() if k not in like]
    for i, sd in enumerate(states[1:], start=1):
        for key in fixed:
            if not torch.equal(torch.as_tensor(sd[key]).cpu(),
                               torch.as_tensor(states[0][key]).cpu()):
                raise ValueError(f"checkpoint {i} differs from checkpoint 0 in {key!r}, which is "
                                 f"not sampled (a buffer or frozen parameter); trajectories "
                                 f"need those equal across checkpoints")


def _outputs(model: nn.Module, params: dict, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([call(model, params, x[s:s + _CHUNK])
                          for s in range(0, x.shape[0], _CHUNK)])


def _gradients(loss: Callable, w: torch.Tensor, x: torch.Tensor, y: torch.Tensor
               ) -> torch.Tensor:
    """‖∇L_n(w_k)‖ on the full data, for each of K centres (chunked, weighted by rows)."""
    n = x.shape[0]
    total = torch.zeros_like(w)
    per = vmap(loss, in_dims=(0, None, None))
    for s in range(0, n, _CHUNK):
        e = min(s + _CHUNK, n)
        ww = w.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(per(ww, x[s:e], y[s:e]).sum(), ww)
        total += g * (e - s) / n
    return total.norm(dim=1)
