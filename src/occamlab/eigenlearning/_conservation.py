"""The conservation law of learnability on a finite data set (Simon et al. 2023, §4, Thm. 1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from occamlab._linalg import check_kernel_matrix
from occamlab._result import Result
from occamlab._torch import as_tensor, make_generator
from occamlab.eigenlearning._measure import krr_fit
from occamlab.eigenlearning._theory import _nonneg_float


@dataclass(frozen=True, repr=False)
class Conservation(Result):
    """Learnabilities of an orthonormal basis on a data set, and what they must sum to.

    Fields:
        learnabilities: (M,) data-set learnability ⟨f, f̂⟩/⟨f, f⟩ of each basis function.
        total: their sum.
        expected: Tr[K_DD (K_DD + δI)⁻¹] (= n without ridge, for an invertible K_DD).
        error: |total − expected|.
    """

    learnabilities: torch.Tensor
    total: float
    expected: float
    error: float


def conservation(K: Any, train: Any, *, ridge: float = 0.0, basis: Any = None,
                 seed: int = 0) -> Conservation:
    """Check the conservation law: the learnabilities of any orthonormal basis sum to
    ``Tr[K_DD (K_DD + δI)⁻¹]`` (Simon et al. 2023, arXiv 2110.03922, Thm. 1).

    The domain is M points with the uniform measure and kernel matrix ``K``; the training set D is
    ``train``. The learnability of f: R^M is ⟨f, f̂⟩/⟨f, f⟩ with ``f̂ = K[:, D](K_DD + δI)⁻¹f[D]``
    the kernel regression fit to f's values on D. The law holds exactly, for every data set.

    Arguments:
        K: (M, M) symmetric PSD kernel matrix on the domain.
        train: (n,) indices of the training points (distinct).
        ridge: δ ≥ 0.
        basis: (M, M) orthonormal basis as columns (default: a random orthogonal matrix).
        seed: seed of the random basis.

    Returns:
        :class:`Conservation`.
    """
    K = check_kernel_matrix(K, "K")
    M = K.shape[0]
    ridge = _nonneg_float(ridge, "ridge")
    idx = as_tensor(train, "train", ndim=1, device=K.device)
    if idx.is_floating_point() or idx.numel() == 0:
        raise ValueError("train must be a non-empty 1-D array of integer indices")
    idx = idx.long()
    if int(idx.min()) < 0 or int(idx.max()) >= M or len(set(idx.tolist())) != idx.numel():
        raise ValueError(f"train must hold distinct indices in [0, {M}), got "
                         f"{idx.tolist()[:10]}")
    if basis is None:
        g = make_generator(seed)
        Q, R = torch.linalg.qr(torch.randn(M, M, generator=g, dtype=torch.float64))
        B = (Q * torch.sign(torch.diagonal(R))).to(K.device)
    else:
        B = as_tensor(basis, "basis", dtype=torch.float64, ndim=2, device=K.device)
        if B.shape != (M, M):
            raise ValueError(f"basis must be ({M}, {M}), got {tuple(B.shape)}")
        gram_err = float((B.T @ B - torch.eye(M, dtype=B.dtype, device=B.device)).abs().max())
        if gram_err > 1e-8:
            raise ValueError(f"basis must be orthonormal (BᵀB = I); max deviation {gram_err:.3g}")
    Kdd = K[idx][:, idx]
    fit = K[:, idx] @ krr_fit(Kdd, B[idx], ridge)
    learn = (B * fit).sum(0) / (B * B).sum(0)
    mu = torch.linalg.eigvalsh(Kdd).clamp_min(0.0)
    if ridge == 0.0:
        expected = float((mu > mu.max() * Kdd.shape[0] * torch.finfo(mu.dtype).eps).sum())
    else:
        expected = float((mu / (mu + ridge)).sum())
    total = float(learn.sum())
    return Conservation(learnabilities=learn, total=total, expected=expected,
                        error=abs(total - expected))
