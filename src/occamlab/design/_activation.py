"""From a target kernel to an activation function and a shallow network that realizes it.

A dot-product kernel with non-negative power-series coefficients K(c) = Σ bₖcᵏ is the NNGP of a
one-hidden-layer network with activation φ = Σ aₖhₖ, aₖ = ±√bₖ, and its NTK with
aₖ = ±√(bₖ/(k+1)) (Simon, Anand & DeWeese 2022, arXiv 2106.03186, Thm 3.1 and §4).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from occamlab._check import check_int, check_real
from occamlab._cosine import check_kind
from occamlab._torch import as_tensor, make_generator
from occamlab.design._hermite import check_degree
from occamlab.design._series import PowerSeriesFit, UnrealizableKernelError, power_series

__all__ = ["HermiteActivation", "activation_for", "shallow_network", "ShallowNetwork",
           "shallow_architecture"]


def _hermite_sum(z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    # Σ aₖhₖ(z) by the normalized recurrence, without stacking all hₖ (memory ∝ input only).
    out = a[0] * torch.ones_like(z)
    if a.shape[0] == 1:
        return out
    h_prev, h = torch.ones_like(z), z
    out = out + a[1] * h
    for k in range(1, a.shape[0] - 1):
        h_prev, h = h, (z * h - math.sqrt(k) * h_prev) / math.sqrt(k + 1)
        out = out + a[k + 1] * h
    return out


class HermiteActivation(nn.Module):
    """The activation φ(u) = Σₖ aₖ hₖ(u/√q), hₖ = Heₖ/√k! the normalized Hermite polynomials.

    Elementwise on any shape; computes in the input's dtype. The coefficients are a buffer
    (not trained), so they follow ``.to(device)`` and the model's state dict.

    Arguments:
        coefficients: aₖ, shape (degree + 1,).
        q: the preactivation variance the coefficients refer to (> 0).

    Attributes:
        coefficients: aₖ (float64 buffer).
        q: preactivation variance.
        fit: the :class:`PowerSeriesFit` it was engineered from, or ``None``.
    """

    coefficients: torch.Tensor

    def __init__(self, coefficients: Any, q: float = 1.0, *, fit: PowerSeriesFit | None = None):
        super().__init__()
        a = as_tensor(coefficients, "coefficients", dtype=torch.float64, ndim=1)
        if a.shape[0] == 0:
            raise ValueError("coefficients must hold at least one entry (a₀)")
        q = check_real(q, "q (the preactivation variance)", gt=0)
        self.register_buffer("coefficients", a.detach().clone())
        self.q = q
        self.fit = fit

    @property
    def degree(self) -> int:
        return int(self.coefficients.shape[0]) - 1

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        z = u / math.sqrt(self.q) if self.q != 1.0 else u
        return _hermite_sum(z, self.coefficients.to(device=u.device, dtype=u.dtype))

    def plot(self, ax: Any = None, *, span: float = 3.0) -> Any:
        """φ(u) over u ∈ [−span·√q, span·√q] (± span standard deviations of the preactivation).

        Returns:
            The Matplotlib axes drawn on (a new figure's when ``ax`` is None).
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        u = torch.linspace(-span, span, 401, dtype=torch.float64) * math.sqrt(self.q)
        with torch.no_grad():
            ax.plot(u.numpy(), self(u).numpy(), "C3")
        ax.set_xlabel("preactivation u")
        ax.set_ylabel("φ(u)")
        ax.set_title(f"engineered activation (degree {self.degree})")
        return ax

    def extra_repr(self) -> str:
        coefs = ", ".join(f"{float(a):.4g}" for a in self.coefficients)
        return f"coefficients=[{coefs}], q={self.q:g}"


def activation_for(target: Any, kind: str = "ntk", degree: int = 5, signs: Any = None, *,
                   tol: float = 0.05, norm: str = "auto", q: float = 1.0,
                   n_points: int = 801, d: int = 16) -> HermiteActivation:
    """Engineer an activation whose one-hidden-layer network has the target kernel.

    Fits K(c) ≈ Σ bₖcᵏ with bₖ ≥ 0 (:func:`power_series`), then takes aₖ = sₖ√(bₖ/(k+1)) for
    the NTK or aₖ = sₖ√bₖ for the NNGP (arXiv 2106.03186, §4). The signs sₖ do
    not change the kernel (only aₖ² enters) but do change the function and its finite-width
    training.

    Arguments:
        target: a callable of the cosine, or an ``occamlab.kernels`` architecture.
        kind: ``"ntk"`` or ``"nngp"``: which kernel of the shallow network should equal the target.
        degree: highest power of the series and degree of the polynomial activation (≥ 0).
        signs: sₖ ∈ {+1, −1} for k = 0 … degree (default all +1).
        tol: largest accepted max |fit − target| as a fraction of max |target| on [−1, 1].
        norm: how the series is fitted: ``"l2"`` (non-negative least squares, exact for a
            polynomial target), ``"max"`` (minimax: the smallest largest error, which is what
            ``tol`` bounds; a deep ReLU NTK fits to 4.4% of K(1) at degree 5 where least squares
            misses by 11%), or ``"auto"``: least squares, then minimax if that misses ``tol``.
        q: preactivation variance the shallow network will feed the activation
            (:func:`shallow_network` uses the activation's q).
        n_points: grid points of the fit.
        d: input dimension for an architecture target.

    Returns:
        A :class:`HermiteActivation` with ``.coefficients`` aₖ and ``.fit``.

    Raises:
        UnrealizableKernelError (a ValueError): the closest non-negative series misses the target
            by more than ``tol``; the message says why and the error's ``.fit`` holds that fit.
    """
    kind = check_kind(kind)
    degree = check_degree(degree)
    tol = check_real(tol, "tol (a fraction of max|K|)", ge=0)
    if signs is None:
        s = torch.ones(degree + 1, dtype=torch.float64)
    else:
        s = as_tensor(signs, "signs", dtype=torch.float64, ndim=1)
        if s.shape[0] != degree + 1 or not bool(((s == 1) | (s == -1)).all()):
            raise ValueError(f"signs must be {degree + 1} values each +1 or -1 (one per power "
                             f"c^0 … c^{degree}), got {s.tolist()}")
    if norm not in ("auto", "l2", "max"):
        raise ValueError(f"norm must be 'auto', 'l2' or 'max', got {norm!r}")
    fit = power_series(target, degree, kind=kind, norm="l2" if norm == "auto" else norm,
                       n_points=n_points, d=d)
    if norm == "auto" and fit.relative_error > tol:
        fit = power_series(target, degree, kind=kind, norm="max", n_points=n_points, d=d)
    if fit.relative_error > tol:
        raise UnrealizableKernelError(
            f"cannot realize the target {kind.upper()} within tol={tol:g}: {fit.diagnosis()}", fit)
    k = torch.arange(degree + 1, dtype=torch.float64)
    a = s * (fit.coefficients / (k + 1) if kind == "ntk" else fit.coefficients).sqrt()
    return HermiteActivation(a, q=q, fit=fit)


class ShallowNetwork(nn.Module):
    """x ↦ (1/√width)·v·φ(√(q/d)·W·x) with W, v standard normal: the NTK parameterization.

    The finite network of :func:`shallow_architecture` (built by its ``.network``, so the network
    and its infinite-width kernels come from one description); its kernels on inputs of norm √d
    are :func:`shallow_kernel` of φ's Hermite coefficients at variance q (first layer
    w_std = √q, no biases, readout w_std = 1).

    Inputs are (N, in_features), or (N, ...) whose trailing dimensions flatten to in_features;
    outputs (N, out_features). ``hidden`` and ``readout`` are the two dense layers (their
    ``weight`` is W and v).
    """

    def __init__(self, activation: nn.Module, in_features: int, width: int, out_features: int,
                 q: float, generator: torch.Generator, dtype: torch.dtype):
        super().__init__()
        self.in_features, self.width, self.q = in_features, width, q
        self.activation = activation  # registered here, so its buffers follow .to(device)
        self.net = shallow_architecture(activation, q).network(
            (in_features,), width, out_dim=out_features, generator=generator, dtype=dtype)

    @property
    def hidden(self) -> nn.Module:
        return self.net[0]

    @property
    def readout(self) -> nn.Module:
        return self.net[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2:
            x = x.reshape(x.shape[0], -1)
        if x.shape[1] != self.in_features:
            raise ValueError(f"x must have {self.in_features} features per sample, got shape "
                             f"{tuple(x.shape)}")
        return self.net(x)


def shallow_network(activation: nn.Module | Any, in_features: int, width: int, seed: int = 0, *,
                    out_features: int = 1, q: float | None = None,
                    dtype: torch.dtype | None = None) -> ShallowNetwork:
    """A one-hidden-layer network in the NTK parameterization around ``activation``.

    Arguments:
        activation: the elementwise nonlinearity: a :class:`HermiteActivation` (its q is used) or
            any callable / ``nn.Module``.
        in_features: input dimension d.
        width: hidden units.
        seed: seed of the standard-normal initialisation.
        out_features: outputs.
        q: first-layer weight variance w_std² (default: the activation's q, else 1).
        dtype: parameter dtype (default torch's default dtype).

    Returns:
        A :class:`ShallowNetwork`; its NTK tends to ``shallow_kernel(coefficients)`` as width → ∞
        (fluctuations ∝ 1/√width).
    """
    in_features = check_int(in_features, "in_features", ge=1)
    width = check_int(width, "width", ge=1)
    out_features = check_int(out_features, "out_features", ge=1)
    q = _check_activation(activation, q)
    if not isinstance(activation, nn.Module):
        activation = _Lambda(activation)
    g = make_generator(seed)
    return ShallowNetwork(activation, in_features, width, out_features, q, g,
                          dtype or torch.get_default_dtype())


def _check_activation(activation: Any, q: float | None) -> float:
    """The first-layer variance q (default: the activation's q, else 1), both checked."""
    if not callable(activation):
        raise TypeError(f"activation must be a callable or nn.Module, got "
                        f"{type(activation).__name__}")
    return check_real(getattr(activation, "q", 1.0) if q is None else q,
                      "q (the first-layer weight variance)", gt=0)


class _Lambda(nn.Module):
    def __init__(self, fn: Any):
        super().__init__()
        self.fn = fn

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fn(z)


def shallow_architecture(activation: nn.Module | Any, q: float | None = None) -> Any:
    """The same shallow network as an ``occamlab.kernels`` architecture.

    ``serial(Dense(w_std=√q), Elementwise(activation), Dense())``: its infinite-width kernels
    (computed by the kernels room's 2-D quadrature) equal :func:`shallow_kernel` of the
    activation's Hermite coefficients, and ``.network(...)`` gives its finite version.

    Arguments:
        activation: an elementwise callable (a :class:`HermiteActivation` gives its q).
        q: first-layer weight variance (default: the activation's q, else 1).
    """
    from occamlab import kernels as K

    q = _check_activation(activation, q)
    name = type(activation).__name__ if isinstance(activation, nn.Module) else None
    return K.serial(K.Dense(w_std=math.sqrt(q)), K.Elementwise(activation, name=name), K.Dense())
