"""Kernel-matrix linear algebra shared by every room: checking a kernel matrix, its eigensystem,
the one rule for "positive semi-definite up to rounding", and the kernel-ridge solve.
Nothing here is public API.
"""

from __future__ import annotations

from typing import Any

import torch

from occamlab._torch import as_tensor

__all__ = ["check_kernel_matrix", "eigh", "psd_tolerance", "check_psd", "ridge_solve"]


def check_kernel_matrix(K: Any, name: str = "K_pool", *,
                        dtype: torch.dtype | None = torch.float64) -> torch.Tensor:
    """``K`` as an (M, M) tensor (float64 unless ``dtype=None`` keeps a floating input's dtype),
    checked to be square, non-empty, finite and symmetric (to 1e-8 of its largest entry)."""
    K = as_tensor(K, name, ndim=2)
    if dtype is not None or not K.is_floating_point():
        K = K.to(dtype or torch.float64)
    if K.shape[0] != K.shape[1]:
        raise ValueError(f"{name} must be a square (M, M) kernel matrix, got shape "
                         f"{tuple(K.shape)}")
    if K.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    scale = max(abs(float(K.max())), abs(float(K.min())))
    # in row blocks, so a 20,000² pool does not need two more full-size temporaries
    asym = 0.0
    for a in range(0, K.shape[0], 2048):
        asym = max(asym, float((K[a:a + 2048] - K[:, a:a + 2048].T).abs().max()))
    if asym > 1e-8 * max(scale, 1e-300):
        raise ValueError(f"{name} must be symmetric; max |K - Kᵀ| = {asym:.3g} (relative "
                         f"{asym / scale:.3g})")
    return K


def eigh(K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Ascending eigenvalues and eigenvectors of a symmetric matrix.

    On CPU this calls LAPACK's divide-and-conquer ``syevd`` through SciPy, which is several
    times faster than ``torch.linalg.eigh`` on CPU (benchmarks/RESULTS.md); on other devices
    it uses torch.
    """
    if K.device.type != "cpu":
        return torch.linalg.eigh(K)
    from scipy.linalg import eigh as sp_eigh

    w, V = sp_eigh(K.numpy(), driver="evd", check_finite=False)
    return torch.from_numpy(w), torch.from_numpy(V)


def psd_tolerance(scale: float, n_terms: int, dtype: torch.dtype = torch.float64) -> float:
    """How negative an eigenvalue may be from rounding alone: 100·n·eps·scale.

    A backward-stable eigensolver of an n × n matrix, or a sum of n terms, perturbs eigenvalues
    by about n·eps·‖K‖ (Golub & Van Loan, Matrix Computations, 4th ed., §8.1.2); anything more
    negative than a generous multiple of that is a property of the kernel, not of rounding.
    ``scale`` is the largest magnitude involved (λ_max, or max |K|).
    """
    return 100 * max(int(n_terms), 1) * float(torch.finfo(dtype).eps) * max(abs(scale), 1e-300)


def check_psd(eigenvalues: torch.Tensor, name: str, scale: float, n_terms: int,
              dtype: torch.dtype = torch.float64, where: str = "index") -> torch.Tensor:
    """The eigenvalues with rounding negatives set to 0; a ``ValueError`` naming the most
    negative one when it is below ``−psd_tolerance(scale, n_terms)``."""
    lam_min = float(eigenvalues.min())
    if lam_min < -psd_tolerance(scale, n_terms, dtype):
        raise ValueError(
            f"{name} is not positive semi-definite: its most negative eigenvalue is "
            f"{lam_min:.6g} ({where} {int(torch.argmin(eigenvalues))}; largest "
            f"{float(eigenvalues.max()):.6g}); a kernel must have eigenvalues ≥ 0 up to rounding")
    return eigenvalues.clamp_min(0.0)


def ridge_solve(K: torch.Tensor, Y: torch.Tensor, ridge: float, *,
                singular: str = "pinv") -> torch.Tensor:
    """Kernel ridge regression's dual coefficients α = (K + δI)⁻¹Y, by Cholesky.

    When K + δI is not positive definite (repeated points and δ = 0): ``singular="pinv"`` gives
    the minimum-norm solution (K + δI)⁺Y, the δ → 0 limit of ridge regression (eigenvalues below
    n·eps·λ_max count as zero); ``singular="raise"`` a ``ValueError`` that says to raise δ.

    Arguments:
        K: (n, n) symmetric kernel matrix; Y: (n,) or (n, C) targets; ridge: δ ≥ 0.

    Returns:
        α of Y's shape, in K's dtype, on K's device.
    """
    n = K.shape[0]
    A = K + ridge * torch.eye(n, dtype=K.dtype, device=K.device)
    L, info = torch.linalg.cholesky_ex(A)
    col = Y if Y.ndim == 2 else Y[:, None]
    if int(info) == 0:
        alpha = torch.cholesky_solve(col, L)
    elif singular == "raise":
        raise ValueError(
            f"the kernel matrix plus ridge·I is not positive definite (Cholesky failed at "
            f"column {int(info)} of {n}): ridge={ridge} is too small for this data (duplicate "
            f"or near-duplicate points?); increase ridge, e.g. to {max(10 * ridge, 1e-6):g}")
    else:
        w, V = eigh(A)
        cut = w.abs().max() * n * torch.finfo(A.dtype).eps
        inv = torch.where(w > cut, 1.0 / w, torch.zeros_like(w))
        alpha = V @ (inv.unsqueeze(1) * (V.T @ col))
    return alpha if Y.ndim == 2 else alpha[:, 0]
