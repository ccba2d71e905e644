"""Fit the parameters of a closed-form activation family so its shallow kernel matches a target.

The shallow network's kernels are Gaussian expectations (Lee et al. 2018, arXiv 1711.00165;
one hidden layer, first layer w_std² = q, no biases, readout w_std = 1):

    NNGP(c) = E[φ(u)φ(v)],   NTK(c) = NNGP(c) + q·c·E[φ'(u)φ'(v)],

with (u, v) centred Gaussian of variances q and covariance q·c. They are computed here by
two-dimensional Gauss–Hermite quadrature, differentiable in the family's parameters, so the fit
needs no sampling of wide networks (the procedure of Simon, Anand & DeWeese 2022, arXiv
2106.03186, §5, where a·ReLU(z−b) + c·z + d + e·cos(f·z + g) is fitted to a deep ReLU NTK).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from occamlab._check import check_real
from occamlab._cosine import check_kind, evaluate_cosine
from occamlab._gaussian import derivative, pair_expectation
from occamlab._result import Result
from occamlab.design._series import as_cosine_kernel

__all__ = ["FAMILIES", "ActivationFit", "fit_activation", "quadrature_kernel"]

Family = Callable[[torch.Tensor, Mapping[str, torch.Tensor]], torch.Tensor]


def _relu_cos(z: torch.Tensor, p: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return (p["a"] * torch.relu(z - p["b"]) + p["c"] * z + p["d"]
            + p["e"] * torch.cos(p["f"] * z + p["g"]))


def _erf_linear(z: torch.Tensor, p: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return p["a"] * torch.erf(p["b"] * z) + p["c"] * z


#: Named families: name → (function of (z, params), default initial parameters).
FAMILIES: dict[str, tuple[Family, dict[str, float]]] = {
    # The family of arXiv 2106.03186 §5 (mimicking a deep ReLU NTK).
    "relu_cos": (_relu_cos, dict(a=1.0, b=0.0, c=0.0, d=0.0, e=0.1, f=1.0, g=0.0)),
    "erf_linear": (_erf_linear, dict(a=1.0, b=1.0, c=0.0)),
}


def quadrature_kernel(fn: Callable[[torch.Tensor], torch.Tensor], c: torch.Tensor, *,
                      kind: str = "ntk", q: float = 1.0, n_nodes: int = 48) -> torch.Tensor:
    """The shallow network's NNGP or NTK at cosines ``c`` by 2-D Gauss–Hermite quadrature.

    Differentiable with respect to anything ``fn`` closes over (φ' comes from autograd).
    Accuracy: exact for polynomial φ of degree < n_nodes; a kink converges like 1/n_nodes.

    Arguments:
        fn: elementwise activation on float64 tensors.
        c: cosines in [−1, 1], shape (n,).
        kind: ``"ntk"`` or ``"nngp"``.
        q: preactivation variance.
        n_nodes: nodes per dimension (n_nodes² evaluations per cosine).

    Returns:
        float64 tensor of shape (n,).
    """
    kind = check_kind(kind)
    c = c.to(torch.float64)
    q_t = torch.full_like(c, float(q))
    nngp = pair_expectation(fn, fn, q_t * c, q_t, q_t, n_nodes)
    if kind == "nngp":
        return nngp
    dfn = derivative(fn, create_graph=True)
    return nngp + q * c * pair_expectation(dfn, dfn, q_t * c, q_t, q_t, n_nodes)


@dataclass(frozen=True, repr=False)
class ActivationFit(Result):
    """A fitted member of an activation family and how well its shallow kernel matches.

    Attributes:
        params: fitted parameter values by name.
        kind: ``"ntk"``/``"nngp"``.
        q: preactivation variance.
        max_error, relative_error, rms_error: over the grid; relative is ÷ max |target|.
        c, target, fitted: the grid and kernels on it (float64, shape (n_points,)).
        family: the family function (not in ``to_dict``).
    """

    params: dict[str, float]
    kind: str
    q: float
    max_error: float
    relative_error: float
    rms_error: float
    c: torch.Tensor
    target: torch.Tensor
    fitted: torch.Tensor
    family: Family = dataclasses.field(repr=False, default=_relu_cos)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["family"] = getattr(self.family, "__name__", repr(self.family))
        return out

    def activation(self, z: torch.Tensor) -> torch.Tensor:
        """The fitted activation at ``z``."""
        p = {k: torch.tensor(v, dtype=z.dtype, device=z.device) for k, v in self.params.items()}
        return self.family(z, p)

    def plot(self, ax: Any = None) -> Any:
        """Target and fitted kernel against the cosine."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        c = self.c.numpy()
        ax.plot(c, self.target.numpy(), "k--", lw=2, label="target")
        ax.plot(c, self.fitted.numpy(), "C2", label="fitted family")
        ax.set_xlabel("cosine c")
        ax.set_ylabel(f"{self.kind.upper()}(c)")
        ax.legend()
        return ax


def fit_activation(target: Any, family: str | Family = "relu_cos",
                   init: Mapping[str, float] | None = None, *, kind: str = "ntk",
                   q: float = 1.0, n_points: int = 101, n_nodes: int = 48, max_iter: int = 200,
                   d: int = 16) -> ActivationFit:
    """Fit a closed-form activation family so its shallow kernel matches ``target`` on [−1, 1].

    Minimizes mean((K_φ(c) − K(c))²)/max|K|² over an even grid of cosines with L-BFGS, K_φ from
    :func:`quadrature_kernel` (arXiv 2106.03186, §5).

    Arguments:
        target: a callable of the cosine or an ``occamlab.kernels`` architecture.
        family: a name in :data:`FAMILIES` or a callable ``family(z, params) -> φ(z)`` with
            params a dict of scalar tensors.
        init: initial parameter values by name (a named family fills in its defaults).
        kind: which kernel to match.
        q: preactivation variance of the shallow network.
        n_points: grid points on [−1, 1].
        n_nodes: quadrature nodes per dimension.
        max_iter: L-BFGS iterations.
        d: input dimension for an architecture target.

    Returns:
        An :class:`ActivationFit`.
    """
    kind = check_kind(kind)
    if isinstance(family, str):
        if family not in FAMILIES:
            raise ValueError(f"unknown activation family {family!r}; named families: "
                             f"{sorted(FAMILIES)} (or pass a callable family(z, params))")
        fam, defaults = FAMILIES[family]
        start = {**defaults, **dict(init or {})}
        unknown = sorted(set(dict(init or {})) - set(defaults))
        if unknown:
            raise ValueError(f"init names parameters {unknown} that family {family!r} lacks; "
                             f"its parameters: {sorted(defaults)}")
    elif callable(family):
        fam = family
        if not init:
            raise ValueError("init must give every parameter's starting value for a callable "
                             "family")
        start = dict(init)
    else:
        raise TypeError(f"family must be a name or a callable, got {type(family).__name__}")
    for k, v in start.items():
        check_real(v, f"init[{k!r}]")
    q = check_real(q, "q (the preactivation variance)", gt=0)

    fn_target = as_cosine_kernel(target, kind, d)
    c = torch.linspace(-1.0, 1.0, n_points, dtype=torch.float64)
    y = evaluate_cosine(fn_target, c, "target kernel")
    scale = float(y.abs().max()) or 1.0
    params = {k: torch.tensor(float(v), dtype=torch.float64, requires_grad=True)
              for k, v in start.items()}

    def kernel() -> torch.Tensor:
        return quadrature_kernel(lambda z: fam(z, params), c, kind=kind, q=q, n_nodes=n_nodes)

    opt = torch.optim.LBFGS(list(params.values()), lr=1.0, max_iter=max_iter,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                            tolerance_change=1e-15)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = ((kernel() - y) ** 2).mean() / scale**2
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        fitted = kernel().detach()
    if not bool(torch.isfinite(fitted).all()):
        raise ValueError("the fit diverged (non-finite kernel); start from another init")
    err = (fitted - y).abs()
    return ActivationFit(
        params={k: float(v.detach()) for k, v in params.items()},
        kind=kind, q=q,
        max_error=float(err.max()),
        relative_error=float(err.max()) / scale,
        rms_error=float(err.pow(2).mean().sqrt()),
        c=c, target=y, fitted=fitted, family=fam,
    )
