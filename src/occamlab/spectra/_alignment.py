"""Kernel-target alignment (Cristianini et al. 2001; centered: Cortes, Mohri, Rostamizadeh 2012)."""

from __future__ import annotations

from typing import Any

import torch

from occamlab._linalg import check_kernel_matrix
from occamlab._torch import as_tensor


def alignment(K: Any, y: Any, centered: bool = True) -> torch.Tensor:
    """Kernel-target alignment ``A = ⟨K, yyᵀ⟩_F / (‖K‖_F·‖yyᵀ‖_F)`` in [-1, 1].

    Centered alignment (Cortes et al. 2012, JMLR 13, Def. 2 and Lemma 1) replaces K by HKH and y
    by Hy with H = I − 11ᵀ/M, so a constant offset of the kernel or the target does not count.

    Arguments:
        K: (M, M) symmetric kernel matrix.
        y: (M,) targets or (M, C) (e.g. one-hot; ``yyᵀ`` then sums over outputs).
        centered: center K and y first.

    Returns:
        a 0-dim float64 tensor on K's device.
    """
    K = check_kernel_matrix(K, "K")
    M = K.shape[0]
    y = as_tensor(y, "y", dtype=torch.float64, ndim=(1, 2), device=K.device)
    if y.shape[0] != M:
        raise ValueError(f"y must have one row per row of K ({M}), got shape {tuple(y.shape)}")
    Y = y.reshape(M, -1)
    if centered:
        K = K - K.mean(0, keepdim=True) - K.mean(1, keepdim=True) + K.mean()
        Y = Y - Y.mean(0, keepdim=True)
    # ⟨K, YYᵀ⟩ = tr(YᵀKY) and ‖YYᵀ‖ = ‖YᵀY‖: never form the (M, M) target matrix.
    nk, ny = torch.linalg.norm(K), torch.linalg.norm(Y.T @ Y)
    if float(nk) == 0.0 or float(ny) == 0.0:
        what = "kernel" if float(nk) == 0.0 else "target"
        raise ValueError(f"alignment is undefined: the {'centered ' if centered else ''}{what} "
                         "is zero")
    return (Y * (K @ Y)).sum() / (nk * ny)
