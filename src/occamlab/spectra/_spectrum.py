"""The ``Spectrum`` result: eigenvalues per level, their multiplicities, and a target's power."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from occamlab._plot import readable_log_axes
from occamlab._result import Result
from occamlab._torch import as_tensor


@dataclass(frozen=True, repr=False)
class Spectrum(Result):
    """Eigenvalues of a kernel operator with respect to a data distribution, grouped in levels.

    A level is one eigenvalue with its multiplicity (a degree of spherical harmonics, a parity
    degree, or a single eigenvector of a kernel matrix). Eigenvalues are normalized by the
    distribution (``∫K(x,x')φ(x')dp(x') = λφ(x)``, so a kernel matrix's eigenvalues are divided by
    its size), in the convention of Simon et al. 2023 (arXiv 2110.03922), §3.

    Fields:
        eigenvalues: (L,) float64, one per level.
        multiplicities: (L,) int64, the number of modes in each level.
        target_power: (L,) float64 sum of squared target coefficients in each level, or None.
        tail_trace: kernel trace beyond the listed levels, ``K(x,x)`` averaged minus
            ``Σ mᵢλᵢ``; it acts as extra ridge in predictions (modes with λ ≪ κ act like ridge).
        tail_power: target power outside the listed levels (mean square of the target minus
            ``Σ target_power``); 0 when the levels are complete or unknown.
        domain: where the spectrum lives (``"pool"``, ``"sphere"``, ``"hypercube"``, ``"circle"``).
        eigenvectors: (M, L) unit-norm eigenvectors for a pool spectrum, else None.
    """

    eigenvalues: torch.Tensor
    multiplicities: torch.Tensor
    target_power: torch.Tensor | None = None
    tail_trace: float = 0.0
    tail_power: float = 0.0
    domain: str = "pool"
    eigenvectors: torch.Tensor | None = None

    @property
    def n_modes(self) -> int:
        """The number of modes in the listed levels (Σ multiplicities)."""
        return int(self.multiplicities.sum())

    @property
    def trace(self) -> float:
        """The kernel's trace ``E_x K(x, x)``: listed levels plus tail."""
        return float((self.eigenvalues * self.multiplicities).sum()) + self.tail_trace

    def with_target(self, target_power: Any, tail_power: float = 0.0) -> Spectrum:
        """A copy with another target: ``target_power`` of shape (L,), power per level."""
        tp = as_tensor(target_power, "target_power", dtype=torch.float64, ndim=1,
                       device=self.eigenvalues.device)
        if tp.shape != self.eigenvalues.shape:
            raise ValueError(f"target_power must have one entry per level "
                             f"({self.eigenvalues.shape[0]}), got shape {tuple(tp.shape)}")
        if bool((tp < 0).any()):
            raise ValueError(f"target_power must be ≥ 0, got minimum {float(tp.min()):.3g}")
        return replace(self, target_power=tp, tail_power=float(tail_power))

    def mode_order(self) -> torch.Tensor:
        """Indices of the levels by decreasing eigenvalue."""
        return torch.argsort(self.eigenvalues, descending=True, stable=True)

    def cumulative_power(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Fraction of the target's power in the top modes (by eigenvalue).

        Returns:
            (modes, fraction): the cumulative mode count after each level (levels sorted by
            decreasing eigenvalue) and the fraction of the total target power (tail included)
            in those modes; both of shape (L,).
        """
        if self.target_power is None:
            raise ValueError("this spectrum has no target; use with_target(...) or pass y")
        order = self.mode_order()
        power = self.target_power[order]
        total = float(power.sum()) + self.tail_power
        if total <= 0:
            raise ValueError("the target has zero power; its cumulative power is undefined")
        return torch.cumsum(self.multiplicities[order], 0), torch.cumsum(power, 0) / total

    def plot(self, ax: Any = None, *, label: str | None = None) -> Any:
        """Eigenvalue decay (λ against mode index, log-log) and, with a target, the cumulative
        target power against the number of top modes.

        Arguments:
            ax: a matplotlib Axes (eigenvalues only) or a pair of Axes; default a new figure.
            label: legend label of the curves (to overlay several spectra on the same Axes).

        Returns:
            the Axes: one, or the pair ``[eigenvalues, cumulative power]`` when two panels are
            drawn.
        """
        import matplotlib.pyplot as plt

        panels = 2 if self.target_power is not None else 1
        if ax is None:
            fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.8), squeeze=False)
            axes = list(axes[0])
        else:
            axes = list(ax) if isinstance(ax, list | tuple) else [ax]
            fig = axes[0].figure
        order = self.mode_order()
        lam = self.eigenvalues[order].cpu()
        mult = self.multiplicities[order].cpu()
        start = torch.cumsum(mult, 0) - mult + 1
        keep = lam > 0
        # A level of multiplicity m spans modes start..start+m-1: draw it as a step.
        xs = torch.stack([start[keep], start[keep] + mult[keep] - 1], 1).reshape(-1)
        ys = lam[keep].repeat_interleave(2)
        axes[0].loglog(xs.numpy(), ys.numpy(), "-", lw=1.5, label=label)
        axes[0].set_xlabel("mode index i")
        axes[0].set_ylabel("eigenvalue λᵢ")
        axes[0].set_title(f"eigenvalue decay ({self.domain})")
        if len(axes) > 1 and self.target_power is not None:
            modes, frac = self.cumulative_power()
            axes[1].semilogx(modes.cpu().numpy(), frac.cpu().numpy(), "-o", ms=2, label=label)
            axes[1].set_xlabel("number of top modes")
            axes[1].set_ylabel("cumulative target power")
            axes[1].set_ylim(0, 1.02)
            axes[1].set_title("target power in the top modes")
        for a in axes:
            readable_log_axes(a)
            if label is not None:
                a.legend(fontsize=8)
        fig.tight_layout()
        return axes[0] if len(axes) == 1 else axes
