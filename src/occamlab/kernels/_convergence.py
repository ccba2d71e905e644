"""Finite against infinite width: how far a network's empirical NTK is from the analytic NTK."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from occamlab._check import check_int
from occamlab._torch import as_tensor
from occamlab.kernels._core import Serial, serial
from occamlab.kernels._empirical import empirical_ntk


def finite_width_error(arch: Serial, x, widths: Sequence[int], *, seeds: int = 3,
                       seed: int = 0) -> torch.Tensor:
    """Relative Frobenius distance between the empirical NTK at initialisation and the NTK.

    For each width w, builds ``arch.network(width=w)`` with ``seeds`` different seeds (float64),
    computes its empirical NTK on ``x`` and returns the mean of ‖Θ̂ − Θ‖_F / ‖Θ‖_F. At
    initialisation the fluctuations fall as 1/√width (Jacot et al. 2018, arXiv 1806.07572, Thm. 1),
    so the result should have slope ≈ −½ against width on log-log axes.

    Arguments:
        arch: an architecture of ``occamlab.kernels``.
        x: (n, ...) inputs.
        widths: the widths to try (each ≥ 1).
        seeds: networks per width; seeds ``seed, seed+1, …``.

    Returns:
        (len(widths),) float64 tensor of mean relative errors.
    """
    arch = serial(arch)
    x = as_tensor(x, "x", dtype=torch.float64)
    check_int(seeds, "seeds", ge=1)
    exact = arch.kernel(x).ntk
    out = []
    for w in widths:
        errs = []
        for s in range(seed, seed + seeds):
            net = arch.network(x.shape[1:], width=check_int(w, "width", ge=1), seed=s,
                               dtype=torch.float64, device=x.device)
            errs.append(torch.linalg.norm(empirical_ntk(net, x) - exact) / torch.linalg.norm(exact))
        out.append(torch.stack(errs).mean())
    return torch.stack(out)
