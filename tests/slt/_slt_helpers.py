"""Shared helpers of the slt tests: training a student to its teacher."""

from __future__ import annotations

import torch
from torch import nn

from occamlab.tasks import Teacher, deep_linear_network


def fit_least_squares(teacher: Teacher) -> nn.Linear:
    """A bias-free linear model at the exact least-squares solution (the minimizer of L_n)."""
    m = nn.Linear(teacher.x.shape[1], teacher.y.shape[1], bias=False, dtype=teacher.x.dtype)
    sol = torch.linalg.lstsq(teacher.x, teacher.y).solution
    with torch.no_grad():
        m.weight.copy_(sol.T)
    return m


def train_deep_linear(teacher: Teacher, *, steps: int = 3000, lr: float = 0.01,
                      seed: int = 0) -> nn.Sequential:
    """A deep linear student trained full-batch with Adam to the minimum of the teacher's NLL."""
    model = deep_linear_network(teacher.widths, seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = teacher.loss()
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model(teacher.x), teacher.y).backward()
        opt.step()
        sched.step()
    return model


class Crossing(nn.Module):
    """A "model" whose MSE against zero targets is K(w) = Π wᵢ^{2kᵢ}: a normal crossing."""

    def __init__(self, k: tuple[int, ...]):
        super().__init__()
        self.k = k
        self.w = nn.Parameter(torch.zeros(len(k), dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.ones((), dtype=x.dtype)
        for i, ki in enumerate(self.k):
            out = out * self.w[i] ** ki
        return out.expand(x.shape[0], 1)


def crossing_expectation(k: tuple[int, ...], nbeta: float, gamma: float) -> float:
    """E[nβ·K(w)] under ∝ exp(−nβ·K(w) − γ‖w‖²/2) by quadrature (one or two coordinates)."""
    import numpy as np
    from scipy import integrate

    lim = 12 / np.sqrt(gamma)
    if len(k) == 1:
        def z(w):
            return np.exp(-nbeta * w ** (2 * k[0]) - gamma * w * w / 2)

        zz = integrate.quad(z, -lim, lim, points=[0], limit=400)[0]
        mm = integrate.quad(lambda w: nbeta * w ** (2 * k[0]) * z(w), -lim, lim, points=[0],
                            limit=400)[0]
        return mm / zz
    assert k[0] == 1  # K = w1² w2^{2k2}: the w1 integral is Gaussian, done in closed form
    k2 = k[1]

    def z2(w2):
        a = nbeta * w2 ** (2 * k2) + gamma / 2
        return np.sqrt(np.pi / a) * np.exp(-gamma * w2 * w2 / 2)

    def m2(w2):
        a = nbeta * w2 ** (2 * k2) + gamma / 2
        return nbeta * w2 ** (2 * k2) * np.sqrt(np.pi) / (2 * a ** 1.5) * np.exp(
            -gamma * w2 * w2 / 2)

    zz = integrate.quad(z2, -lim, lim, points=[0], limit=400)[0]
    mm = integrate.quad(m2, -lim, lim, points=[0], limit=400)[0]
    return mm / zz
