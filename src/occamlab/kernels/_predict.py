"""Training dynamics at infinite width in closed form: gradient flow on the MSE loss.

A network of infinite width trained by gradient descent with a small step evolves as its
linearization, a kernel machine with the NTK Θ (Jacot et al. 2018, arXiv 1806.07572; Lee et al.
2019, arXiv 1902.06720). With neural-tangents' conventions (so its code ports unchanged):

- the loss is ½·mean over all N_y = y.size entries of (f − y)², and time is measured in units of
  the learning rate, so the flow is df/dt = −Θ(f − y)/N_y;
- ``diag_reg`` adds diag_reg·tr(K)/n to the diagonal (``diag_reg_absolute_scale=True``: diag_reg);
- eigenvalues of the (regularized) kernel are clipped at 0; ``t=None`` is the limit t → ∞.

With E_t = I − e^{−Θt/N_y} (Lee et al. 2019, eq. 9–10):
f_train(t) = y + e^{−Θt/N_y}(f₀ − y) and f_test(t) = f*₀ − Θ*Θ⁻¹E_t(f₀ − y). Averaged over the
initialisation of an infinite ensemble (f₀ ~ GP(0, K), K the NNGP; eq. 13–15) the test outputs are
Gaussian with mean Θ*Θ⁻¹E_t·y and covariance K** + Θ*Θ⁻¹E_t K E_tΘ⁻¹Θ*ᵀ − (Θ*Θ⁻¹E_t K*ᵀ + h.c.).
Training only the readout ("nngp" mode, §2.3, eq. 16): mean K*K⁻¹(I − e^{−Kt/N_y})y, covariance
K** − K*K⁻¹(I − e^{−2Kt/N_y})K*ᵀ.

Every function of the kernel is taken in its eigenbasis, computed once, so an array of times costs
one batched product. Private: the public names are in :mod:`occamlab.kernels.predict`.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch

from occamlab._check import check_bool, check_real, value_error
from occamlab._torch import as_tensor, num_threads
from occamlab.kernels._core import Layer

__all__ = ["Gaussian", "gradient_descent_mse", "gradient_descent_mse_ensemble", "gp_inference",
           "max_learning_rate", "as_kernel", "as_targets", "as_times", "check_get"]

GETS = ("nngp", "ntk")


class Gaussian(NamedTuple):
    """Mean and covariance of the ensemble's outputs (neural-tangents' ``Gaussian``).

    Attributes:
        mean: (*t.shape, m, k) outputs.
        covariance: (*t.shape, m, m) covariance between inputs (the same for every output).
    """

    mean: torch.Tensor
    covariance: torch.Tensor


# --------------------------------------------------------------------------- validation


def check_get(get: Any) -> tuple[str, ...]:
    """``get`` as a tuple of "nngp"/"ntk" (``None`` is both), or a ``ValueError``."""
    if get is None:
        return GETS
    items = (get,) if isinstance(get, str) else get
    try:
        items = tuple(items)
    except TypeError:
        items = (get,)
    if not items or any(not isinstance(g, str) or g not in GETS for g in items):
        raise value_error("get", "'nngp', 'ntk', a tuple of them, or None", get)
    return items


def _pack(get: Any, values: dict[str, Any]) -> Any:
    """A single value for a string ``get``, else a namedtuple with one field per entry."""
    if isinstance(get, str):
        return values[get]
    names = check_get(get)
    return collections.namedtuple("Gaussians", names)(*(values[g] for g in names))


def as_times(t: Any, learning_rate: float) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Times as a flat float64 tensor (``None`` is ∞) scaled by ``learning_rate``, and the shape."""
    if t is None:
        return torch.tensor([math.inf], dtype=torch.float64), ()
    tt = as_tensor(t, "t", dtype=torch.float64, finite=False)
    flat = tt.reshape(-1).cpu()
    bad = torch.isnan(flat) | (flat < 0)
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0])
        raise ValueError(f"t must hold training times ≥ 0 (in units of the learning rate; None or "
                         f"inf for t → ∞), got {float(flat[i])} at flat index {i}")
    return flat * learning_rate, tuple(tt.shape)


def as_targets(y: Any, n: int, name: str = "y_train", rows: str = "x_train"
               ) -> tuple[torch.Tensor, bool]:
    """Targets (n,) or (n, k) as float64 (n, k), and whether they were 1-D."""
    y = as_tensor(y, name, dtype=torch.float64, ndim=(1, 2))
    if y.shape[0] != n:
        raise ValueError(f"{name} has {y.shape[0]} rows but {rows} has {n}; they must match "
                         "(one target row per input)")
    return (y[:, None], True) if y.ndim == 1 else (y, False)


def as_kernel(k: Any, name: str, shape: tuple[int | None, int | None] | None = None,
              device: torch.device | None = None) -> torch.Tensor:
    """A kernel matrix (tensor or array) as float64, with an optional shape check."""
    k = as_tensor(k, name, dtype=torch.float64, ndim=2, device=device)
    if shape is not None:
        for axis, want in enumerate(shape):
            if want is not None and k.shape[axis] != want:
                raise ValueError(f"{name} must have shape ({shape[0] or 'm'}, {shape[1]}), got "
                                 f"{tuple(k.shape)}")
    return k


def _first(k: Any) -> Any:
    """The first kernel a record holds (an array is the kernel itself)."""
    if isinstance(k, torch.Tensor | np.ndarray):
        return k
    for g in GETS:
        v = k.get(g) if isinstance(k, dict) else getattr(k, g, None)
        if v is not None:
            return v
    raise ValueError("k_train_train must be a matrix or a record with .nngp and/or .ntk")


def _attr(k: Any, g: str, name: str) -> Any:
    """``k.g`` for a kernel record (or ``k[g]`` for a dict); an array is the kernel itself."""
    if isinstance(k, torch.Tensor | np.ndarray):
        return k
    v = k.get(g) if isinstance(k, dict) else getattr(k, g, None)
    if v is None:
        raise ValueError(f"{name} has no {g!r} kernel; pass a record with .{g} (e.g. a "
                         "KernelResult) or a matrix")
    return v


# --------------------------------------------------------------------------- eigenbasis


def _eigh(k: torch.Tensor, values_only: bool = False):
    """``torch.linalg.eigh`` (or ``eigvalsh``), on CPU with one thread.

    The tridiagonal reduction is a chain of matrix-vector products with a barrier per column;
    on the shared 2-core machine a 2,000 × 2,000 eigh took 34 s with 2 threads and 2.2 s with 1
    (benchmarks/RESULTS.md), so the CPU path does not split it over threads.
    """
    fn = torch.linalg.eigvalsh if values_only else torch.linalg.eigh
    if k.device.type != "cpu":
        return fn(k)
    with num_threads(1):
        return fn(k)


class _Eigen:
    """Eigendecomposition of a train–train kernel K + reg·I with eigenvalues clipped at 0.

    Non-PSD beyond rounding is an error: the tolerance is Weyl's bound ‖E‖₂ ≤ n·max|E_ij| for
    entry errors of 10 ulps of the input dtype relative to the largest eigenvalue.
    """

    def __init__(self, k: torch.Tensor, diag_reg: float, absolute: bool, name: str,
                 eps: float):
        n = k.shape[0]
        if k.shape != (n, n):
            raise ValueError(f"{name} must be square (n, n), got {tuple(k.shape)}")
        self.n = n
        scale = float(k.abs().max()) or 1.0
        tol = 10 * n * eps
        asym = float((k - k.T).abs().max()) / scale
        if asym > tol:
            raise ValueError(f"{name} is not symmetric (max |K − Kᵀ|/max|K| = {asym:.3g}); a "
                             "kernel between one set of inputs must be")
        reg = diag_reg if absolute else diag_reg * float(torch.trace(k)) / n
        k = k + reg * torch.eye(n, dtype=k.dtype, device=k.device) if reg else k
        raw, self.vecs = _eigh(k)
        top = float(raw.abs().max()) or 1.0
        if float(raw[0]) < -tol * top:
            raise ValueError(f"{name} is not positive semi-definite: smallest eigenvalue "
                             f"{float(raw[0]):.4g} against largest {top:.4g} (beyond rounding, "
                             f"{tol:.2g} relative); a kernel matrix must be PSD")
        self.lam = raw.clamp_min(0.0)
        # numpy's matrix_rank rule: eigenvalues below n·eps·λ_max are zero to rounding
        self.singular = float(self.lam[0]) <= n * torch.finfo(torch.float64).eps * top
        self.top = top

    def x(self, t: torch.Tensor, n_y: int) -> torch.Tensor:
        """(T, n) exponents λ·t/N_y, with 0·∞ = 0 (a null direction never moves)."""
        x = self.lam[None, :] * t.to(self.lam.device)[:, None] / n_y
        return torch.where(self.lam[None, :] == 0, 0.0, x)

    def need_inverse(self, t: torch.Tensor, name: str, diag_reg: float) -> None:
        if self.singular and bool(torch.isinf(t).any()):
            more = "increase diag_reg" if diag_reg else "pass diag_reg > 0 (e.g. 1e-6)"
            raise ValueError(f"{name} is singular (smallest eigenvalue {float(self.lam[0]):.3g} "
                             f"of largest {self.top:.3g}; duplicate inputs do this) and the t → ∞ "
                             f"limit needs its inverse: {more}, or use finite times")

    def growth(self, t: torch.Tensor, n_y: int) -> torch.Tensor:
        """(T, n) 1 − e^{−λt/N_y}: the share of each eigendirection learned by time t."""
        return -torch.expm1(-self.x(t, n_y))

    def inv_growth(self, t: torch.Tensor, n_y: int) -> torch.Tensor:
        """(T, n) (1 − e^{−λt/N_y})/λ, 0 in null directions (1/λ at t = ∞)."""
        pos = self.lam > 0
        return torch.where(pos, self.growth(t, n_y) / torch.where(pos, self.lam, 1.0), 0.0)


def _mat(vecs: torch.Tensor, g: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """(T, n, r): V·diag(g_t)·right for each row g_t of g (T, n); ``right`` is (n, r)."""
    return vecs @ (g[:, :, None] * right)


# --------------------------------------------------------------------------- ensemble


def _ensemble_mean_cov(g: str, eig: _Eigen, y: torch.Tensor, t: torch.Tensor, n_y: int,
                       k_dd_nngp: torch.Tensor | None, k_td: torch.Tensor | None,
                       k_td_nngp: torch.Tensor | None, k_tt_nngp: torch.Tensor | None,
                       cov: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mean (T, m, k) and covariance (T, m, m) of the ensemble in mode ``g`` at times ``t``.

    ``k_td`` is the test–train kernel of mode ``g`` (``None``: the training inputs themselves).
    """
    v = eig.vecs
    vy = v.T @ y  # (n, k)
    if k_td is None:  # training inputs: mean V·E_t·Vᵀy (Lee et al. 2019, eq. 10 with f₀ averaged)
        mean = _mat(v, eig.growth(t, n_y), vy)
        if not cov:
            return mean, None
        if g == "nngp":  # K − K·E_{2t} = V·λ·e^{−2λt/N_y}·Vᵀ
            d = eig.lam[None, :] * torch.exp(-2 * eig.x(t, n_y))
            return mean, _mat(v, d, v.T)
        decay = _mat(v, torch.exp(-eig.x(t, n_y)), v.T)  # e^{−Θt/N_y}
        return mean, decay @ k_dd_nngp @ decay.transpose(1, 2)
    q = k_td @ v  # (m, n): the test–train kernel in the eigenbasis
    inv = eig.inv_growth(t, n_y)
    mean = q @ (inv[:, :, None] * vy)  # Θ*Θ⁻¹E_t·y
    if not cov:
        return mean, None
    if g == "nngp":  # K** − K*·K⁻¹(I − e^{−2Kt/N_y})·K*ᵀ (eq. 16)
        inv2 = eig.inv_growth(2 * t, n_y)
        return mean, k_tt_nngp - (q * inv2[:, None, :]) @ q.T
    qg = q * inv[:, None, :]  # (T, m, n): Θ*Θ⁻¹E_t in the eigenbasis
    inner = v.T @ k_dd_nngp @ v  # K in Θ's eigenbasis
    cross = qg @ (k_td_nngp @ v).T  # Θ*Θ⁻¹E_t K*ᵀ
    return mean, k_tt_nngp + qg @ inner @ qg.transpose(1, 2) - cross - cross.transpose(1, 2)


def _kernels(kernel_fn: Any, x1: torch.Tensor, x2: torch.Tensor | None,
             get: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The kernels ``get`` between x1 and x2 from an architecture or a kernel function."""
    if isinstance(kernel_fn, Layer):
        k = kernel_fn.kernel(x1, x2, ntk="ntk" in get)
        return {g: getattr(k, g) for g in get}
    out = kernel_fn(x1, x2, get)
    if isinstance(out, torch.Tensor | np.ndarray):
        if len(get) != 1:
            raise ValueError(f"kernel_fn returned one matrix but {get} were asked for; return a "
                             "record with .nngp and .ntk")
        out = {get[0]: out}
    return {g: as_kernel(_attr(out, g, "kernel_fn's result"), f"kernel_fn(...).{g}",
                         device=x1.device) for g in get}


def gradient_descent_mse_ensemble(kernel_fn: Layer | Callable, x_train: Any, y_train: Any,
                                  learning_rate: float = 1.0, diag_reg: float = 0.0,
                                  diag_reg_absolute_scale: bool = False) -> Callable:
    """The infinite ensemble of infinitely wide networks trained by gradient flow on the MSE.

    Lee et al. 2019 (arXiv 1902.06720) §2.3–2.4: over random initialisations the outputs at time t
    are Gaussian, with mean Θ*Θ⁻¹(I − e^{−Θt/N_y})y and covariance (eq. 15)
    K** + Θ*Θ⁻¹E_t K E_tΘ⁻¹Θ*ᵀ − (Θ*Θ⁻¹E_t K*ᵀ + h.c.) in "ntk" mode (every layer trained), and
    mean K*K⁻¹(I − e^{−Kt/N_y})y, covariance K** − K*K⁻¹(I − e^{−2Kt/N_y})K*ᵀ in "nngp" mode
    (only the readout trained, eq. 16). The same API and numbers as neural-tangents'
    ``predict.gradient_descent_mse_ensemble``.

    Arguments:
        kernel_fn: an occamlab architecture (its ``kernel`` is used) or a function
            ``kernel_fn(x1, x2, get)`` (neural-tangents' signature; ``get`` a tuple of names)
            returning a record with ``.nngp``/``.ntk`` (or a matrix when one is asked for).
        x_train: (n, ...) training inputs.
        y_train: (n, k) or (n,) targets; N_y = y_train.size.
        learning_rate: times are multiplied by it (time is in units of the learning rate).
        diag_reg: adds diag_reg·tr(K)/n to each train–train kernel's diagonal (≥ 0).
        diag_reg_absolute_scale: add diag_reg itself instead.

    Returns:
        ``predict_fn(t=None, x_test=None, get=None, compute_cov=False)``: ``t`` a number or an
        array of times ≥ 0 (``None``/inf: t → ∞); ``x_test=None`` predicts on the training
        inputs; ``get`` "ntk", "nngp" or a tuple (``None``: both). Returns the mean
        (*t.shape, m, k) — or ``Gaussian(mean, covariance)`` with covariance (*t.shape, m, m)
        when ``compute_cov`` — for a string ``get``, else a namedtuple with one per mode. Tensors
        are float64 on x_train's device.
    """
    x_train = as_tensor(x_train, "x_train", dtype=torch.float64)
    if x_train.ndim < 2:
        raise ValueError(f"x_train must have shape (n, ...), got {tuple(x_train.shape)}")
    if not (isinstance(kernel_fn, Layer) or callable(kernel_fn)):
        raise TypeError(f"kernel_fn must be an occamlab.kernels architecture or a callable "
                        f"kernel_fn(x1, x2, get), got {type(kernel_fn).__name__}")
    y, flat = as_targets(y_train, x_train.shape[0])
    y = y.to(x_train.device)
    lr = check_real(learning_rate, "learning_rate", gt=0)
    reg = check_real(diag_reg, "diag_reg", ge=0)
    absolute = check_bool(diag_reg_absolute_scale, "diag_reg_absolute_scale")
    train: dict[str, torch.Tensor] = {}
    eigs: dict[str, _Eigen] = {}

    def k_dd(gs: tuple[str, ...]) -> dict[str, torch.Tensor]:
        missing = tuple(g for g in gs if g not in train)
        if missing:
            train.update(_kernels(kernel_fn, x_train, None, missing))
        return train

    def eigen(g: str) -> _Eigen:
        if g not in eigs:
            eigs[g] = _Eigen(k_dd((g,))[g], reg, absolute, f"the train–train {g.upper()}",
                             torch.finfo(torch.float64).eps)
        return eigs[g]

    def predict_fn(t: Any = None, x_test: Any = None, get: Any = None,
                   compute_cov: bool = False) -> Any:
        gets = check_get(get)
        cov = check_bool(compute_cov, "compute_cov")
        times, shape = as_times(t, lr)
        need = tuple(sorted(set(gets) | ({"nngp"} if cov else set())))
        kd = k_dd(need)
        if x_test is not None:
            xt = as_tensor(x_test, "x_test", dtype=torch.float64, device=x_train.device)
            if xt.shape[1:] != x_train.shape[1:]:
                raise ValueError(f"x_test must have the feature shape of x_train "
                                 f"{tuple(x_train.shape[1:])}, got {tuple(xt.shape[1:])}")
            k_td = _kernels(kernel_fn, xt, x_train, need)
            k_tt = _kernels(kernel_fn, xt, None, ("nngp",))["nngp"] if cov else None
        out = {}
        for g in gets:
            eig = eigen(g)
            eig.need_inverse(times, f"the train–train {g.upper()}", reg)
            mean, c = _ensemble_mean_cov(
                g, eig, y, times, y.numel(), kd.get("nngp"),
                None if x_test is None else k_td[g],
                None if x_test is None else k_td.get("nngp"), None if x_test is None else k_tt,
                cov)
            m = mean.shape[1]
            mean = mean.reshape(*shape, m, -1)
            mean = mean[..., 0] if flat else mean
            out[g] = Gaussian(mean, c.reshape(*shape, m, m)) if cov else mean
        return _pack(get if get is not None else GETS, out)

    return predict_fn


# --------------------------------------------------------------------------- single network


def gradient_descent_mse(ntk_train_train: Any, y_train: Any, learning_rate: float = 1.0,
                         diag_reg: float = 0.0, diag_reg_absolute_scale: bool = False
                         ) -> Callable:
    """Outputs of one linearized network trained by gradient flow on the MSE, in closed form.

    Lee et al. 2019 (arXiv 1902.06720) eq. 9–10 with time in units of the learning rate:
    f_train(t) = y + e^{−Θt/N_y}(f₀ − y) and f_test(t) = f*₀ − Θ*Θ⁻¹(I − e^{−Θt/N_y})(f₀ − y).
    Give it a network's empirical NTK (and initial outputs) to predict that network's training,
    or the infinite-width NTK. neural-tangents' ``predict.gradient_descent_mse``.

    Arguments:
        ntk_train_train: (n, n) kernel on the training inputs.
        y_train: (n, k) or (n,) targets.
        learning_rate: times are multiplied by it.
        diag_reg: adds diag_reg·tr(Θ)/n to the diagonal (≥ 0).
        diag_reg_absolute_scale: add diag_reg itself instead.

    Returns:
        ``predict_fn(t=None, fx_train_0=0.0, fx_test_0=None, ntk_test_train=None)``: times as in
        :func:`gradient_descent_mse_ensemble`; ``fx_train_0`` (n, k) or a number, ``None`` to skip
        the training outputs; ``fx_test_0`` (m, k) or a number with ``ntk_test_train`` (m, n)
        (``k_test_train=`` is accepted too, neural-tangents' name). Returns ``f_train_t``,
        ``f_test_t`` or both, each (*t.shape, rows, k), float64 on the kernel's device.
    """
    k = as_kernel(ntk_train_train, "ntk_train_train")
    n = k.shape[0]
    y, flat = as_targets(y_train, n, rows="ntk_train_train")
    y = y.to(k.device)
    lr = check_real(learning_rate, "learning_rate", gt=0)
    reg = check_real(diag_reg, "diag_reg", ge=0)
    absolute = check_bool(diag_reg_absolute_scale, "diag_reg_absolute_scale")
    eps = torch.finfo(ntk_train_train.dtype).eps if isinstance(ntk_train_train, torch.Tensor) \
        and ntk_train_train.is_floating_point() else torch.finfo(torch.float64).eps
    cache: list[_Eigen] = []

    def outputs(f0: Any, name: str, rows: int) -> torch.Tensor:
        f = as_tensor(f0, name, dtype=torch.float64, device=k.device)
        try:
            f = f[:, None] if flat and f.ndim == 1 else f
            return torch.broadcast_to(f, (rows, y.shape[1]))
        except RuntimeError:
            raise ValueError(f"{name} must be a number or have shape ({rows}, {y.shape[1]}) like "
                             f"the targets, got {tuple(f.shape)}") from None

    def predict_fn(t: Any = None, fx_train_0: Any = 0.0, fx_test_0: Any = None,
                   ntk_test_train: Any = None, *, k_test_train: Any = None) -> Any:
        k_td = ntk_test_train if ntk_test_train is not None else k_test_train
        if fx_train_0 is None and fx_test_0 is None:
            raise ValueError("both fx_train_0 and fx_test_0 are None: nothing to predict")
        if fx_test_0 is not None and k_td is None:
            raise ValueError("fx_test_0 needs ntk_test_train, the (m, n) kernel between the test "
                             "and the training inputs")
        times, shape = as_times(t, lr)
        if not cache:
            cache.append(_Eigen(k, reg, absolute, "ntk_train_train", eps))
        eig = cache[0]
        eig.need_inverse(times, "ntk_train_train", reg)
        f0 = None if fx_train_0 is None else outputs(fx_train_0, "fx_train_0", n)
        resid = eig.vecs.T @ (-y if f0 is None else f0 - y)  # (n, k) in the eigenbasis
        res = []
        if f0 is not None:
            f = f0 - _mat(eig.vecs, eig.growth(times, y.numel()), resid)
            f[torch.isinf(times).to(f.device)] = y  # the limit exactly, as neural-tangents has it
            res.append(f)
        if fx_test_0 is not None:
            kt = as_kernel(k_td, "ntk_test_train", (None, n), device=k.device)
            ft0 = outputs(fx_test_0, "fx_test_0", kt.shape[0])
            res.append(ft0 - (kt @ eig.vecs) @ (eig.inv_growth(times, y.numel())[:, :, None]
                                                 * resid))
        res = [r.reshape(*shape, r.shape[1], -1) for r in res]
        res = [r[..., 0] for r in res] if flat else res
        return res[0] if len(res) == 1 else tuple(res)

    return predict_fn


def gp_inference(k_train_train: Any, y_train: Any, diag_reg: float = 0.0,
                 diag_reg_absolute_scale: bool = False) -> Callable:
    """Posterior of the NNGP, or the t → ∞ ensemble of NTK training, from given kernels.

    "nngp": the exact posterior of an infinitely wide Bayesian network, mean K*K⁻¹y and
    covariance K** − K*K⁻¹K*ᵀ (Lee et al. 2018, arXiv 1711.00165, eq. 2); "ntk": the infinite
    ensemble trained to convergence, mean Θ*Θ⁻¹y and covariance
    K** + Θ*Θ⁻¹KΘ⁻¹Θ*ᵀ − (Θ*Θ⁻¹K*ᵀ + h.c.) (Lee et al. 2019, eq. 15 at t = ∞).
    neural-tangents' ``predict.gp_inference``.

    Arguments:
        k_train_train: (n, n) train–train kernels: a record with ``.nngp``/``.ntk`` (e.g. a
            :class:`KernelResult`) or one matrix used for every mode.
        y_train: (n, k) or (n,) targets.
        diag_reg, diag_reg_absolute_scale: as in :func:`gradient_descent_mse_ensemble`.

    Returns:
        ``predict_fn(get=None, k_test_train=None, k_test_test=None)``: ``k_test_train`` (m, n)
        test–train kernels (``None``: the training set, N(y, 0)); ``k_test_test`` the (m, m) NNGP
        of the test inputs (a record or matrix) to get ``Gaussian(mean, covariance)``. The NTK
        covariance needs the NNGP in ``k_train_train`` and ``k_test_train`` too.
    """
    reg = check_real(diag_reg, "diag_reg", ge=0)
    absolute = check_bool(diag_reg_absolute_scale, "diag_reg_absolute_scale")
    n = as_kernel(_first(k_train_train), "k_train_train").shape[0]
    y, flat = as_targets(y_train, n, rows="k_train_train")
    eigs: dict[str, _Eigen] = {}
    inf = torch.tensor([math.inf], dtype=torch.float64)

    def predict_fn(get: Any = None, k_test_train: Any = None, k_test_test: Any = None) -> Any:
        gets = check_get(get)
        cov = k_test_test is not None
        out = {}
        for g in gets:
            kd = as_kernel(_attr(k_train_train, g, "k_train_train"), f"k_train_train.{g}", (n, n))
            yd = y.to(kd.device)
            if k_test_train is None:
                mean = yd[..., 0] if flat else yd
                out[g] = Gaussian(mean, torch.zeros_like(kd)) if cov else mean
                continue
            if g not in eigs:
                eigs[g] = _Eigen(kd, reg, absolute, f"k_train_train.{g}",
                                 torch.finfo(torch.float64).eps)
            eigs[g].need_inverse(inf, f"k_train_train.{g}", reg)
            kt = as_kernel(_attr(k_test_train, g, "k_test_train"), f"k_test_train.{g}",
                           (None, n), device=kd.device)
            nngp = [as_kernel(_attr(rec, "nngp", nm), f"{nm}.nngp", device=kd.device)
                    if cov else None
                    for rec, nm in ((k_train_train, "k_train_train"),
                                    (k_test_train, "k_test_train"), (k_test_test, "k_test_test"))]
            mean, c = _ensemble_mean_cov(g, eigs[g], yd, inf, yd.numel(), nngp[0], kt, nngp[1],
                                         nngp[2], cov)
            mean = mean[0][..., 0] if flat else mean[0]
            out[g] = Gaussian(mean, c[0]) if cov else mean
        return _pack(get if get is not None else GETS, out)

    return predict_fn


def max_learning_rate(ntk_train_train: Any, y_train_size: int | None = None,
                      momentum: float = 0.0, eps: float = 1e-12) -> float:
    """The largest stable learning rate of full-batch gradient descent on the MSE.

    With the loss ½·‖f − y‖²/N_y, one step multiplies the residual by I − η·Θ/N_y, a contraction
    while η < 2·N_y/λ_max(Θ) (Lee et al. 2019, arXiv 1902.06720, §4; with momentum β the bound is
    2(1 + β)·N_y/λ_max, Goh 2017, "Why momentum really works"). neural-tangents'
    ``predict.max_learning_rate``.

    Arguments:
        ntk_train_train: (n, n) NTK on the training inputs (analytic or empirical).
        y_train_size: N_y = y_train.size (default n: one output per input).
        momentum: β ≥ 0.
        eps: added to λ_max to avoid a zero divisor.

    Returns:
        2·(1 + β)·N_y/(λ_max + eps) as a float.
    """
    k = as_kernel(ntk_train_train, "ntk_train_train")
    if k.shape[0] != k.shape[1]:
        raise ValueError(f"ntk_train_train must be square, got {tuple(k.shape)}")
    beta = check_real(momentum, "momentum", ge=0)
    n_y = k.shape[0] if y_train_size is None else y_train_size
    if isinstance(n_y, bool) or not isinstance(n_y, int | np.integer) or n_y < 1:
        raise value_error("y_train_size", "a positive integer or None", y_train_size)
    top = float(_eigh(k, values_only=True)[-1])
    return 2.0 * (1.0 + beta) * int(n_y) / (top + eps)
