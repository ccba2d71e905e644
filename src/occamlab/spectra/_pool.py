"""Eigensystem of a kernel on a finite pool of points (the empirical data distribution)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from occamlab._check import check_int
from occamlab._linalg import check_kernel_matrix, check_psd, eigh
from occamlab._torch import as_tensor, make_generator
from occamlab.spectra._spectrum import Spectrum

METHODS = ("randomized", "lanczos")


def _orthonormalize(Y: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis of Y's columns by Cholesky-QR, twice (CholeskyQR2: Fukaya et al.
    2014), which is all matrix products (Householder QR of a tall block is not, and is much
    slower: benchmarks/RESULTS.md); Householder QR when Y is too ill-conditioned.
    """
    Q = Y
    for _ in range(2):
        # QᵀQ = LLᵀ, so Q·L⁻ᵀ has orthonormal columns
        L, info = torch.linalg.cholesky_ex(Q.T @ Q)
        if int(info) != 0:
            return torch.linalg.qr(Y)[0]
        Q = torch.linalg.solve_triangular(L.T, Q, upper=True, left=False)
    return Q


def _randomized(K: torch.Tensor, k: int, *, n_iter: int, oversample: int,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    # Subspace iteration with a Rayleigh–Ritz step (Halko, Martinsson, Tropp 2011, Alg. 4.4
    # and 5.3): only matrix–block products, which use all cores, unlike one-vector Lanczos.
    M = K.shape[0]
    b = min(M, k + oversample)
    omega = torch.randn(M, b, generator=generator, dtype=K.dtype).to(K.device)
    Q = _orthonormalize(K @ omega)
    for _ in range(n_iter):
        Q = _orthonormalize(K @ Q)
    B = (Q.T @ (K @ Q)).double()
    w, V = eigh((B + B.T) / 2)
    w, V = w.flip(0)[:k], V.flip(1)[:, :k]
    return w, Q.double() @ V


def _lanczos(K: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    from scipy.sparse.linalg import eigsh

    w, V = eigsh(K.cpu().numpy(), k=k, which="LA")
    order = np.argsort(w)[::-1]
    return (torch.from_numpy(w[order].copy()).to(K.device),
            torch.from_numpy(V[:, order].copy()).to(K.device))


def from_kernel(K_pool: Any, y_pool: Any = None, top_k: int | None = None, *,
                method: str = "randomized", n_iter: int = 4, oversample: int | None = None,
                seed: int | None = 0, keep_eigenvectors: bool = True) -> Spectrum:
    """The eigensystem of a kernel on a pool of M points, normalized as a data distribution.

    The uniform distribution on the pool has eigenvalues ``λᵢ = eigᵢ(K)/M`` and orthonormal
    eigenfunctions ``φᵢ = √M·uᵢ``, so a target has coefficients ``vᵢ = uᵢᵀy/√M``
    (Simon et al. 2023, arXiv 2110.03922, §3 and App. on real data).

    Arguments:
        K_pool: (M, M) symmetric positive semi-definite kernel matrix. With ``top_k`` (randomized)
            a float32 matrix stays float32 for the large products (eigenvalues then carry
            ~1e-6 relative error); otherwise it is used in float64.
        y_pool: optional (M,) or (M, C) targets; with C outputs the power of each mode is summed
            over outputs (so predicted MSEs are summed over outputs too).
        top_k: keep only the top ``top_k`` eigenpairs, found iteratively; ``None`` does a
            dense ``eigh`` of all M.
        method: for ``top_k``: ``"randomized"`` (block subspace iteration, all cores; the
            default) or ``"lanczos"`` (``scipy.sparse.linalg.eigsh``).
        n_iter: subspace iterations of the randomized method (error ∝ (λ_{k+p}/λᵢ)^{2·n_iter+1}
            (Halko et al. 2011, §9): eigenvalues near the cut converge slowly when the spectrum
            is flat there, e.g. inside a nearly degenerate level of a sphere kernel; use
            ``method="lanczos"`` or a larger ``oversample`` when those must be exact).
        oversample: extra block columns p of the randomized method (default max(20, top_k/4)).
        seed: seed of the randomized method's starting block.
        keep_eigenvectors: store the (M, k) eigenvectors in the result.

    Returns:
        :class:`Spectrum` with levels of multiplicity 1 sorted by decreasing eigenvalue, the
        trace beyond ``top_k`` in ``tail_trace`` and, with ``y_pool``, the target power per mode
        and beyond ``top_k`` in ``tail_power``. Tensors are float64 on ``K_pool``'s device.

    Raises:
        ValueError: non-square, asymmetric, non-finite or non-PSD ``K_pool`` (the message names
        the most negative eigenvalue), or ``y_pool`` of the wrong length.
    """
    # top_k keeps a float32 K in float32 (half the memory, twice the GEMM speed); the small
    # Rayleigh–Ritz problem and everything after it are float64.
    K = check_kernel_matrix(K_pool, dtype=None if top_k is not None and method == "randomized"
                            else torch.float64)
    M = K.shape[0]
    y = None
    if y_pool is not None:
        y = as_tensor(y_pool, "y_pool", dtype=torch.float64, ndim=(1, 2), device=K.device)
        if y.shape[0] != M:
            raise ValueError(f"y_pool must have one row per pool point ({M}), got shape "
                             f"{tuple(y.shape)}")
        y = y.reshape(M, -1)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if top_k is None or top_k >= M:
        K = K.double()
        w, U = eigh(K)
        w, U = w.flip(0), U.flip(1)
        w = check_psd(w, "K_pool", float(w[0]), M, K.dtype)
    else:
        top_k = check_int(top_k, "top_k", ge=1)
        if method == "lanczos":
            w, U = _lanczos(K, top_k)
        else:
            p = max(20, top_k // 4) if oversample is None else check_int(
                oversample, "oversample", ge=0)
            w, U = _randomized(K, top_k, n_iter=check_int(n_iter, "n_iter",
                                                                   ge=0),
                               oversample=p, generator=make_generator(seed))
        w = check_psd(w, "K_pool", float(w[0]), M, K.dtype)
    lam = w / M
    tail_trace = max(float(torch.diagonal(K).double().sum()) / M - float(lam.sum()), 0.0)
    power, tail_power = None, 0.0
    if y is not None:
        v = U.T @ y / math.sqrt(M)
        power = (v**2).sum(1)
        tail_power = max(float((y**2).sum()) / M - float(power.sum()), 0.0)
    return Spectrum(
        eigenvalues=lam,
        multiplicities=torch.ones(lam.shape[0], dtype=torch.int64, device=K.device),
        target_power=power,
        tail_trace=tail_trace if lam.shape[0] < M else 0.0,
        tail_power=tail_power if lam.shape[0] < M else 0.0,
        domain="pool",
        eigenvectors=U if keep_eigenvectors else None,
    )
