"""An engineered activation learns 11-bit parity; a deep ReLU network does not.

Reproduces the parity experiment of Simon, Anand & DeWeese, "Reverse Engineering the Neural
Tangent Kernel" (ICML 2022, arXiv 2106.03186, §5): the 2¹¹ = 2048 points of {−1, 1}¹¹ are split
at random into 1024 training and 1024 test points, labelled by their parity Πᵢ xᵢ. A shallow
network (width 128, NTK parameterization) with activation ½·sin(6z) — whose NTK,
¼e⁻³⁶·sinh(36c) + 9c·e⁻³⁶·cosh(36c), is odd and sharply peaked, so it does not prefer low-degree
functions — learns it; a 4-hidden-layer ReLU network (w_std = √2, b_std = 0.1, width 128), whose
kernel strongly prefers low degrees, does not. Both are trained by full-batch gradient descent on
the squared error, learning rate 0.5, 400 steps, float32 (about 35 s for three seeds).

Measured (``python examples/parity.py``, seeds 0–2; test accuracy, train accuracy)::

    seed 0: ½·sin(6z) shallow 1.000 (train 1.000) | 4-layer ReLU 0.354 (train 0.788)
    seed 1: ½·sin(6z) shallow 1.000 (train 1.000) | 4-layer ReLU 0.357 (train 0.866)
    seed 2: ½·sin(6z) shallow 1.000 (train 1.000) | 4-layer ReLU 0.378 (train 0.751)

The ReLU network lands *below* chance (0.5): each test point has about half of its 11 Hamming
neighbours — all of opposite parity — in the training set, and a kernel that favours smooth
functions copies their labels. The paper reports it "near chance"; either way it fails to learn
parity, which is the claim. A fast version (9 bits) runs in tests/design/test_design_parity.py.
The number of bits must be odd here: ½·sin(6z) is odd and the network has no biases, so it only
represents odd functions of x (at 8 bits it fails, 0.27).
"""

from __future__ import annotations

import argparse
import math

import torch

from occamlab import design
from occamlab import kernels as K


def parity_data(n_bits: int, n_train: int, n_test: int, seed: int):
    """All of {−1, 1}^n_bits, shuffled, split into train/test; labels are the parity (±1)."""
    if n_train + n_test > 2**n_bits:
        raise ValueError(f"n_train + n_test must be ≤ 2^n_bits = {2**n_bits}, got "
                         f"{n_train + n_test}")
    codes = torch.arange(2**n_bits)
    bits = (codes[:, None] >> torch.arange(n_bits)) & 1
    x = (1 - 2 * bits).to(torch.float32)  # |x|² = n_bits: c = x·x'/n_bits is the cosine
    x = x[torch.randperm(2**n_bits, generator=torch.Generator().manual_seed(seed))]
    y = x.prod(dim=1)
    return x[:n_train], y[:n_train], x[n_train:n_train + n_test], y[n_train:n_train + n_test]


def half_sin6(z: torch.Tensor) -> torch.Tensor:
    """The paper's engineered parity activation ½·sin(6z)."""
    return 0.5 * torch.sin(6 * z)


def _train(net, xtr, ytr, xte, yte, steps: int, lr: float) -> tuple[float, float]:
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = (net(xtr)[:, 0] - ytr).pow(2).mean()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = lambda x, y: float((net(x)[:, 0].sign() == y).float().mean())  # noqa: E731
        return acc(xte, yte), acc(xtr, ytr)


def run(n_bits: int = 11, n_train: int = 1024, n_test: int = 1024, width: int = 128,
        steps: int = 400, lr: float = 0.5, seed: int = 0) -> dict[str, float]:
    """Train both networks on parity; returns test and train accuracies."""
    xtr, ytr, xte, yte = parity_data(n_bits, n_train, n_test, seed)
    shallow = design.shallow_network(half_sin6, n_bits, width, seed=seed)
    deep = K.mlp(4, "relu", w_std=math.sqrt(2), b_std=0.1).network((n_bits,), width, seed=seed)
    sin_test, sin_train = _train(shallow, xtr, ytr, xte, yte, steps, lr)
    relu_test, relu_train = _train(deep, xtr, ytr, xte, yte, steps, lr)
    return dict(sin_test=sin_test, sin_train=sin_train, relu_test=relu_test,
                relu_train=relu_train)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bits", type=int, default=11)
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)  # small matrices: one thread is fastest on a shared machine
    n = 2 ** (args.bits - 1)
    for seed in range(args.seeds):
        r = run(n_bits=args.bits, n_train=n, n_test=n, seed=seed)
        print(f"seed {seed}: ½·sin(6z) shallow {r['sin_test']:.3f} (train {r['sin_train']:.3f}) "
              f"| 4-layer ReLU {r['relu_test']:.3f} (train {r['relu_train']:.3f})")


if __name__ == "__main__":
    main()
