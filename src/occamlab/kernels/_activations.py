"""Elementwise nonlinearities and their infinite-width kernel maps.

For ``(u, v)`` centred Gaussian with covariance ``[[q1, s], [s, q2]]`` an activation φ maps the
NNGP covariance ``s`` to ``T = E[φ(u)φ(v)]`` and multiplies the NTK by ``Ṫ = E[φ'(u)φ'(v)]``
(Jacot et al. 2018, arXiv 1806.07572, Thm. 1; Lee et al. 2019, arXiv 1902.06720, Eq. 7).
Closed forms: ReLU family (Cho & Saul 2009, Eq. 6), erf (Williams 1997), GELU (derived below by
Gaussian integration by parts), sign. Anything else goes through :class:`Elementwise`, a 2-D
Gauss–Hermite quadrature.

Each activation implements ``fn`` (the function, for the finite network) and two kernel maps on
broadcastable tensors:

- ``pair(s, q1, q2, dot)`` → ``(T, Ṫ or None)`` off the diagonal,
- ``diag(q)`` → ``T(q, q, q)`` from its own formula (the diagonal is where ``arccos`` of a
  rounded cosine would lose half the digits).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from occamlab._check import check_int
from occamlab._gaussian import MAX_NODES, derivative, gauss_hermite, pair_expectation
from occamlab.kernels._core import Flow, Layer, State

__all__ = ["Activation", "ABRelu", "Relu", "LeakyRelu", "Abs", "Erf", "Gelu", "Sign", "Identity",
           "Elementwise", "Tanh", "activation", "ACTIVATIONS"]

_TWO_PI = 2.0 * math.pi


def _angle(s: torch.Tensor, q1: torch.Tensor,
           q2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(√(q1q2 − s²), θ)`` with θ = atan2(√(q1q2 − s²), s), the angle between the inputs.

    atan2 rather than arccos of the cosine (as neural-tangents does): on the diagonal, where
    q1q2 = s² exactly, θ is exactly 0. A pair with zero variance gets θ = π/2 (uncorrelated).
    """
    # not addcmul: a fused multiply-add would leave an ulp where q1·q2 = s² exactly (diagonal)
    root = (q1 * q2 - s * s).clamp_min_(0.0).sqrt_()
    theta = torch.atan2(root, s)
    if bool((q1 == 0).any()) or bool((q2 == 0).any()):  # only then can root = s = 0 occur
        theta = torch.where((root == 0) & (s == 0), math.pi / 2, theta)
    return root, theta


class Activation(Layer):
    """Base of elementwise layers: applies ``pair``/``diag`` to every position pair."""

    #: the name used by :func:`activation` and the CLI spec.
    name = "activation"

    def fn(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def pair(self, s: torch.Tensor, q1: torch.Tensor, q2: torch.Tensor,
             dot: bool) -> tuple[torch.Tensor, torch.Tensor | None]:  # pragma: no cover
        raise NotImplementedError

    def diag(self, q: torch.Tensor) -> torch.Tensor:
        return self.pair(q, q, q, False)[0]

    # -- layer protocol -------------------------------------------------------------------
    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape

    def infer(self, flow: Flow) -> Flow:
        # the kernel maps take Gaussian pre-activations, which only a random affine layer gives
        # (neural-tangents raises the same way)
        if not flow.gaussian:
            if flow.channels[0] == 0:
                raise ValueError("acts on raw inputs; an activation needs a Dense or Conv "
                                 "before it")
            raise ValueError("its input is not Gaussian (an activation, a concatenation or a "
                             "sum with a non-Gaussian branch came after the last Dense/Conv); "
                             "an activation needs a Dense or Conv before it")
        return flow.replace(gaussian=False, fresh=False)

    def kernel_step(self, st: State) -> State:
        q1, q2 = st.q1(), st.q2()
        if st.full:
            a, b = q1[:, None, :, None], q2[None, :, None, :]
        else:
            a, b = q1[:, None, :], q2[None, :, :]
        nngp, tdot = self.pair(st.nngp, a, b, st.ntk is not None)
        ntk = None if st.ntk is None else tdot.mul_(st.ntk)  # tdot is a fresh array
        var1 = self._self(st.var1, q1, st.full)
        var2 = var1 if st.var2 is st.var1 else self._self(st.var2, q2, st.full)
        return st.replace(nngp=nngp, ntk=ntk, var1=var1, var2=var2)

    def _self(self, var: torch.Tensor, q: torch.Tensor, full: bool) -> torch.Tensor:
        if not full:
            return self.diag(var)
        out = self.pair(var, q[:, :, None], q[:, None, :], False)[0]
        out.diagonal(dim1=-2, dim2=-1).copy_(self.diag(q))
        return out

    def module(self, shape: tuple[int, ...], width: int, out: int | None,
               generator: torch.Generator, dtype: torch.dtype, device: torch.device,
               parameterization: str = "ntk") -> tuple[torch.nn.Module, tuple[int, ...]]:
        return _ActModule(self), shape

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _ActModule(torch.nn.Module):
    def __init__(self, act: Activation):
        super().__init__()
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act.fn(x)

    def extra_repr(self) -> str:
        return repr(self.act)


class ABRelu(Activation):
    """``φ(z) = a·min(z, 0) + b·max(z, 0)``; ReLU, LeakyReLU and Abs are special cases.

    ``T = (a−b)²/(2π)·√(q1q2 − s²) + ((a²+b²)/2 − (a−b)²θ/(2π))·s`` and
    ``Ṫ = (a²+b²)/2 − (a−b)²θ/(2π)``, θ = arccos(s/√(q1q2)) (Cho & Saul 2009, Eq. 6, generalised
    as in neural-tangents ``stax.ABRelu``).
    """

    name = "abrelu"

    def __init__(self, a: float, b: float):
        self.a, self.b = float(a), float(b)

    def fn(self, x: torch.Tensor) -> torch.Tensor:
        return self.a * x.clamp(max=0) + self.b * x.clamp(min=0)

    def pair(self, s, q1, q2, dot):
        a, b = self.a, self.b
        root, theta = _angle(s, q1, q2)
        d2 = (a - b) ** 2
        tdot = torch.add(theta.new_tensor((a * a + b * b) / 2), theta, alpha=-d2 / _TWO_PI)
        t = tdot * s if d2 == 0.0 else torch.addcmul(root.mul_(d2 / _TWO_PI), tdot, s)
        return t, (tdot if dot else None)

    def diag(self, q):
        return (self.a ** 2 + self.b ** 2) / 2 * q

    def __repr__(self) -> str:
        return f"ABRelu(a={self.a:g}, b={self.b:g})"


class Relu(ABRelu):
    """ReLU, ``max(z, 0)``: the arc-cosine kernel of degree 1 (Cho & Saul 2009)."""

    name = "relu"

    def __init__(self):
        super().__init__(0.0, 1.0)

    def fn(self, x):
        return torch.relu(x)

    def __repr__(self) -> str:
        return "Relu()"


class LeakyRelu(ABRelu):
    """``max(z, 0) + alpha·min(z, 0)`` (ABRelu with a = alpha, b = 1)."""

    name = "leakyrelu"

    def __init__(self, alpha: float = 0.01):
        super().__init__(alpha, 1.0)
        self.alpha = float(alpha)

    def __repr__(self) -> str:
        return f"LeakyRelu(alpha={self.alpha:g})"


class Abs(ABRelu):
    """``|z|`` (ABRelu with a = −1, b = 1)."""

    name = "abs"

    def __init__(self):
        super().__init__(-1.0, 1.0)

    def fn(self, x):
        return x.abs()

    def __repr__(self) -> str:
        return "Abs()"


class Erf(Activation):
    """``erf(z)``: ``T = (2/π)·arcsin(2s/√((1+2q1)(1+2q2)))``,
    ``Ṫ = (4/π)/√((1+2q1)(1+2q2) − 4s²)`` (Williams 1997, "Computing with infinite networks").
    """

    name = "erf"

    def fn(self, x):
        return torch.erf(x)

    def pair(self, s, q1, q2, dot):
        prod = (1 + 2 * q1) * (1 + 2 * q2)
        root = (prod - 4 * s * s).clamp_min_(0.0).sqrt_()
        t = (2 / math.pi) * torch.atan2(2 * s, root)
        return t, ((4 / math.pi) / root if dot else None)

    def diag(self, q):
        return (2 / math.pi) * torch.atan2(q, (q + 0.25).sqrt())


class Gelu(Activation):
    """``GELU(z) = z·Φ(z)`` (exact, not the tanh approximation).

    With ``A = 1+q1``, ``B = 1+q2``, ``D = √(AB − s²)``, ``ρ = s/√(AB)`` and
    ``c₂ = 1 − q1/A − q2/B``, Gaussian integration by parts (Stein's lemma applied twice to
    ``E[u v 1{u > g₁} 1{v > g₂}]`` with independent standard normals g) gives

    ``T = s/4 + s·arcsin(ρ)/(2π) + (q1·q2 + c₂·s²)/(2π·D)``

    and, by Price's theorem ``Ṫ = ∂T/∂s``,

    ``Ṫ = 1/4 + arcsin(ρ)/(2π) + s/(2πD) + s·(2c₂D² + q1q2 + c₂s²)/(2πD³)``.

    D ≥ √(1 + q1 + q2) > 0, so both are well conditioned on the diagonal.
    """

    name = "gelu"

    def fn(self, x):
        return torch.nn.functional.gelu(x)

    def pair(self, s, q1, q2, dot):
        a, b = 1 + q1, 1 + q2
        ab = a * b
        d2 = ab - s * s
        d = d2.sqrt()
        c2 = 1 - q1 / a - q2 / b
        asin = torch.atan2(s, d)  # = arcsin(s/√(AB))
        num = q1 * q2 + c2 * s * s
        t = s / 4 + s * asin / _TWO_PI + num / (_TWO_PI * d)
        tdot = None
        if dot:
            tdot = 0.25 + asin / _TWO_PI + s / (_TWO_PI * d) + s * (2 * c2 * d2 + num) / (
                _TWO_PI * d2 * d)
        return t, tdot


class Sign(Activation):
    """``sign(z)``: ``T = 1 − 2θ/π`` and ``Ṫ = 0`` almost everywhere (neural-tangents
    ``stax.Sign``), so the NTK stops at a Sign layer."""

    name = "sign"

    def fn(self, x):
        return torch.sign(x)

    def pair(self, s, q1, q2, dot):
        t = 1 - (2 / math.pi) * _angle(s, q1, q2)[1]
        return t, (torch.zeros_like(t) if dot else None)

    def diag(self, q):
        return torch.ones_like(q)


class Identity(Activation):
    """``φ(z) = z``: ``T = s``, ``Ṫ = 1``."""

    name = "identity"

    def infer(self, flow: Flow) -> Flow:
        return flow  # T = s holds for any input, Gaussian or not

    def fn(self, x):
        return x

    def pair(self, s, q1, q2, dot):
        return s.clone(), (torch.ones_like(s) if dot else None)

    def diag(self, q):
        return q.clone()


class Elementwise(Activation):
    """Any elementwise ``fn`` through Gauss–Hermite quadrature of the 2-D Gaussian expectations.

    ``u = √q1·z₁``, ``v = √q2·(c·z₁ + √(1−c²)·z₂)`` with z standard normal and c the cosine;
    ``E[φ(u)φ(v)] ≈ Σₐ Σ_b wₐ w_b φ(u(zₐ)) φ(v(zₐ, z_b))`` on the ``deg``-point probabilists'
    Gauss–Hermite rule, and ``Ṫ`` the same with φ' (by autograd unless ``dfn`` is given).

    Accuracy (measured against the closed forms in float64 over variances q ∈ [0.2, 4] and
    cosines in [−0.999, 0.999]; max error relative to the largest entry; tests/kernels check
    these). The error depends on how smooth φ is, not on the kernel size:

    ======  =========  ==========  =========  ==========
    φ       T, deg 32  Ṫ, deg 32   T, deg 64  Ṫ, deg 64
    ======  =========  ==========  =========  ==========
    GELU    3e-5       6e-4        7e-9       3e-7
    erf     2e-3       9e-3        1.2e-5     1.2e-4
    ReLU    8e-3       6e-2        4e-3       4e-2
    ======  =========  ==========  =========  ==========

    Entire φ of slow growth converge geometrically; saturating φ (erf, tanh) more slowly as q
    grows (they turn step-like); a kink (ReLU, |z|) makes Ṫ the integral of a step, which
    converges only like deg^(−1/2)…deg^(−1). Prefer the closed-form layers where they exist.
    Cost: deg² evaluations of φ and φ' per kernel entry (done in chunks).

    Arguments:
        fn: elementwise torch function, ``fn(x)`` of any shape.
        dfn: its derivative (optional; autograd otherwise).
        deg: number of quadrature nodes per dimension.
        name: a label for repr.
    """

    name = "elementwise"

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor],
                 dfn: Callable[[torch.Tensor], torch.Tensor] | None = None, *, deg: int = 64,
                 name: str | None = None):
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        self._fn, self._dfn, self.deg = fn, dfn, check_int(deg, "deg", ge=2, le=MAX_NODES)
        self.label = name or getattr(fn, "__name__", "fn")
        self._autograd_dfn = derivative(fn)

    def fn(self, x):
        return self._fn(x)

    def dfn(self, x: torch.Tensor) -> torch.Tensor:
        return (self._dfn or self._autograd_dfn)(x)

    def pair(self, s, q1, q2, dot):
        t = pair_expectation(self.fn, self.fn, s, q1, q2, self.deg)
        return t, (pair_expectation(self.dfn, self.dfn, s, q1, q2, self.deg) if dot else None)

    def diag(self, q):
        z, w = gauss_hermite(self.deg, dtype=q.dtype, device=q.device)
        return (self.fn(q.sqrt()[..., None] * z) ** 2 * w).sum(-1)

    def __repr__(self) -> str:
        return f"Elementwise({self.label}, deg={self.deg})"


class Tanh(Elementwise):
    """``tanh(z)`` by :class:`Elementwise` quadrature (no closed form exists)."""

    name = "tanh"

    def __init__(self, deg: int = 64):
        super().__init__(torch.tanh, lambda x: 1 - torch.tanh(x) ** 2, deg=deg, name="tanh")

    def __repr__(self) -> str:
        return f"Tanh(deg={self.deg})"


ACTIVATIONS: dict[str, type[Activation]] = {
    "relu": Relu, "leakyrelu": LeakyRelu, "abs": Abs, "erf": Erf, "gelu": Gelu, "sign": Sign,
    "identity": Identity, "tanh": Tanh,
}


def activation(name: str | Activation, **params: float) -> Activation:
    """The activation called ``name`` (case-insensitive; ``leaky_relu`` = ``leakyrelu``).

    Raises ``ValueError`` listing the valid names if ``name`` is unknown.
    """
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str):
        raise TypeError(f"activation must be a name or an Activation, got {type(name).__name__}")
    key = name.lower().replace("_", "").replace("-", "")
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")
    try:
        return ACTIVATIONS[key](**params)
    except TypeError as e:
        raise ValueError(f"bad parameters {params} for activation {name!r}: {e}") from None
