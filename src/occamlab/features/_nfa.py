"""The neural feature ansatz (NFA): does a trained layer's Gram matrix WᵀW follow AGOP^α?

Radhakrishnan, Beaglehole, Pandit, Belkin, Science 2024 (arXiv 2212.13881), Eq. 2: for layer l,
``W_lᵀW_l ∝ AGOP_l^α`` with α = 1/2 in the authors' code (1/L for a depth-L linear network). The
comparison is the Pearson correlation of the flattened matrices; because raw ``WᵀW`` already
correlates with the AGOP at initialisation (both are near-diagonal), the same number at
initialisation and the correlation of the update ``(W − W₀)ᵀ(W − W₀)`` are reported beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from occamlab._result import Result, format_table
from occamlab.features._agop import agops, layer_weight, resolve_layer, supported_layers

__all__ = ["NFAResult", "nfa", "pearson", "matrix_power"]


def pearson(A: torch.Tensor, B: torch.Tensor) -> float:
    """Pearson correlation of the entries of two equally shaped matrices (NaN if one is flat)."""
    if A.shape != B.shape:
        raise ValueError(f"matrices must have the same shape, got {tuple(A.shape)} and "
                         f"{tuple(B.shape)}")
    a = A.reshape(-1).double()
    b = B.reshape(-1).double().to(a.device)
    a, b = a - a.mean(), b - b.mean()
    den = float(a.norm() * b.norm())
    if den == 0.0:
        return math.nan
    return float(a @ b) / den


def matrix_power(S: torch.Tensor, alpha: float) -> torch.Tensor:
    """``S^α`` of a symmetric PSD matrix by eigendecomposition (tiny negative eigenvalues → 0)."""
    lam, V = torch.linalg.eigh((S + S.T) / 2)
    return (V * lam.clamp_min(0.0).pow(alpha)) @ V.T


@dataclass(frozen=True, repr=False)
class NFAResult(Result):
    """Per-layer NFA correlations.

    Fields:
        layers: layer names (``model.named_modules()``), in the order measured.
        powers: the powers α of the AGOP compared with.
        rows: one dict per (layer, α, centered) with keys ``layer``, ``power``, ``centered``,
            ``corr`` (WᵀW vs AGOP^α of the trained model), ``corr_delta`` ((W − W₀)ᵀ(W − W₀) vs
            the same AGOP^α) and ``corr_init`` (W₀ᵀW₀ vs AGOP^α of the initial model: the
            baseline); the last two are NaN without an initial model.
        grams: ``{layer: WᵀW}``, (d, d) float64.
        agops: ``{layer: AGOP}`` (uncentered), (d, d) float64.
        agops_centered: ``{layer: centered AGOP}``.
        delta_grams: ``{layer: (W − W₀)ᵀ(W − W₀)}``, empty without an initial model.
    """

    layers: list[str]
    powers: tuple[float, ...]
    rows: list[dict[str, Any]]
    grams: dict[str, torch.Tensor] = field(repr=False)
    agops: dict[str, torch.Tensor] = field(repr=False)
    agops_centered: dict[str, torch.Tensor] = field(repr=False)
    delta_grams: dict[str, torch.Tensor] = field(repr=False)

    def correlation(self, layer: str, power: float = 0.5, *, centered: bool = False,
                    which: str = "corr") -> float:
        """One number of :attr:`rows`; ``which``: ``"corr"``, ``"corr_delta"``, ``"corr_init"``."""
        if which not in ("corr", "corr_delta", "corr_init"):
            raise ValueError(f"which must be 'corr', 'corr_delta' or 'corr_init', got {which!r}")
        for r in self.rows:
            if r["layer"] == layer and r["power"] == power and r["centered"] == centered:
                return r[which]
        raise ValueError(
            f"no row for layer={layer!r}, power={power}, centered={centered}; layers: "
            f"{self.layers}, powers: {list(self.powers)}"
        )

    def table(self) -> list[dict[str, Any]]:
        """The rows as a table: layer, α, AGOP (plain or centered), and the three
        correlations."""
        return [{"layer": r["layer"], "power": r["power"],
                 "AGOP": "centered" if r["centered"] else "plain", "corr": r["corr"],
                 "corr_delta": r["corr_delta"], "corr_init": r["corr_init"]} for r in self.rows]

    def __str__(self) -> str:
        return format_table(self.table())

    def plot(self, ax: Any = None, layer: str | None = None, power: float = 0.5, *,
             centered: bool = False, delta: bool = False, label: str | None = None) -> Any:
        """Show WᵀW (or (W − W₀)ᵀ(W − W₀) when ``delta``) next to AGOP^α for one layer.

        Arguments:
            ax: a pair of matplotlib axes; ``None`` makes a new figure.
            layer: layer name (default the first).
            power: α.
            centered: use the centered AGOP.
            delta: show the update's Gram matrix (needs an initial model).
            label: how to name the layer in the titles (default its module name).

        Returns:
            The two axes.
        """
        import matplotlib.pyplot as plt

        layer = self.layers[0] if layer is None else layer
        if layer not in self.grams:
            raise ValueError(f"no layer {layer!r}; layers: {self.layers}")
        if delta and not self.delta_grams:
            raise ValueError("delta=True needs an initial model (nfa(..., init_model=...))")
        gram = self.delta_grams[layer] if delta else self.grams[layer]
        A = (self.agops_centered if centered else self.agops)[layer]
        Ap = matrix_power(A, power)
        if ax is None:
            _, ax = plt.subplots(1, 2, figsize=(8, 3.8))
        lhs = "(W−W₀)ᵀ(W−W₀)" if delta else "WᵀW"
        corr = pearson(gram, Ap)
        name = label or f"layer {layer}"
        for a, M, title in ((ax[0], gram, f"{name}: {lhs}"),
                            (ax[1], Ap, f"{name}: {'centered ' if centered else ''}"
                                        f"AGOP^{power:g}")):
            im = a.imshow(M.detach().cpu().numpy(), cmap="viridis")
            a.figure.colorbar(im, ax=a, fraction=0.046)
            a.set_title(title, fontsize=9)
            a.set_xlabel("input feature (patch entry for a convolution)")
            a.set_ylabel("input feature")
        ax[1].set_xlabel(f"input feature; Pearson r = {corr:.3f}")
        return ax


def _check_powers(powers: Sequence[float]) -> tuple[float, ...]:
    try:
        out = tuple(float(p) for p in powers)
    except (TypeError, ValueError):
        raise TypeError(f"powers must be a sequence of numbers, got {powers!r}") from None
    if not out or not all(math.isfinite(p) and p > 0 for p in out):
        raise ValueError(f"powers must be a non-empty sequence of positive numbers, got {powers!r}")
    return out


def nfa(
    model: nn.Module,
    X: Any,
    init_model: nn.Module | None = None,
    powers: Sequence[float] = (0.5, 1.0),
    *,
    layers: Sequence[nn.Module | str] | None = None,
    batch_size: int | None = None,
    progress: bool = True,
) -> NFAResult:
    """Test the neural feature ansatz layer by layer (Radhakrishnan et al. 2024, Eq. 2).

    Arguments:
        model: the trained network.
        X: inputs (N, ...) at which the AGOP is averaged (usually the training set).
        init_model: the same architecture at initialisation; adds the update's correlation
            ``corr((W − W₀)ᵀ(W − W₀), AGOP^α)`` and the at-init baseline ``corr(W₀ᵀW₀, AGOP₀^α)``.
        powers: the powers α of the AGOP.
        layers: layers (modules or names) to measure; default every supported layer of the
            model (``nn.Linear``/``nn.Conv1d``/``nn.Conv2d`` and modules declaring
            ``affine_kind``/``effective_weight``, as occamlab's own Dense/Conv do).
        batch_size: samples per pass, bounding memory.
        progress: show progress.

    W is the weight the layer applies (``effective_weight``, i.e. ``scale·weight``, for
    occamlab's NTK-parameterized layers), so ``grams`` is on the same scale as the AGOP.

    Returns:
        :class:`NFAResult` with one row per (layer, α, centered ∈ {False, True}).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    powers = _check_powers(powers)
    if layers is None:
        names = list(supported_layers(model))
        if not names:
            resolve_layer(model, None)  # raises: no supported layer
    else:
        names = [resolve_layer(model, layer)[0] for layer in layers]
    measured = agops(model, X, names, batch_size=batch_size, progress=progress)
    init_measured: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    W0: dict[str, torch.Tensor] = {}
    if init_model is not None:
        if not isinstance(init_model, nn.Module):
            raise TypeError(f"init_model must be a torch.nn.Module, got "
                            f"{type(init_model).__name__}")
        for name in names:
            W = layer_weight(model.get_submodule(name))
            try:
                w0 = layer_weight(init_model.get_submodule(name))
            except (AttributeError, TypeError):  # no such layer, or not a supported one
                w0 = None
            if w0 is None or tuple(w0.shape) != tuple(W.shape):
                raise ValueError(
                    f"init_model does not match model at layer {name!r}: expected a layer with "
                    f"weight matrix of shape {tuple(W.shape)}"
                )
            W0[name] = w0.double()
        init_measured = agops(init_model, X, names, batch_size=batch_size, progress=progress)
    rows, grams, deltas = [], {}, {}
    for name in names:
        W = layer_weight(model.get_submodule(name)).double()
        device = measured[name][0].device
        grams[name] = (W.T @ W).to(device)
        if name in W0:
            D = W - W0[name].to(W.device)
            deltas[name] = (D.T @ D).to(device)
        for power in powers:
            for c, centered in enumerate((False, True)):
                Ap = matrix_power(measured[name][c], power)
                row = {"layer": name, "power": power, "centered": centered,
                       "corr": pearson(grams[name], Ap), "corr_delta": math.nan,
                       "corr_init": math.nan}
                if name in W0:
                    row["corr_delta"] = pearson(deltas[name], Ap)
                    A0p = matrix_power(init_measured[name][c], power)
                    G0 = (W0[name].T @ W0[name]).to(device)
                    row["corr_init"] = pearson(G0, A0p)
                rows.append(row)
    return NFAResult(
        layers=names, powers=powers, rows=rows, grams=grams,
        agops={n: measured[n][0] for n in names},
        agops_centered={n: measured[n][1] for n in names},
        delta_grams=deltas,
    )
