"""The shared plumbing's choices, each against the plain alternative, side by side.

- dense symmetric eigensolver: SciPy's LAPACK ``syevd`` (``_linalg.eigh``) vs torch.linalg.eigh;
- orthonormal basis of a tall block: CholeskyQR2 (randomized eigensolver) vs Householder QR;
- a small elementwise kernel block: one intra-op thread vs all (``_torch.num_threads``);
- kernel blocks: cache-sized blocks (kernels' default) vs one 2000 × 2000 block.

Run: ``.venv/bin/python benchmarks/plumbing_choices.py``. Best of 3 wall times.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peer import best_of as best  # noqa: E402
from _peer import machine  # noqa: E402

from occamlab import kernels as K  # noqa: E402
from occamlab._linalg import eigh  # noqa: E402
from occamlab._torch import num_threads  # noqa: E402
from occamlab.spectra._pool import _orthonormalize  # noqa: E402


def main() -> None:
    g = torch.Generator().manual_seed(0)
    A = torch.randn(1200, 1200, generator=g, dtype=torch.float64)
    S = A @ A.T
    rows = [("eigh 1200 × 1200 float64", best(lambda: eigh(S)), "torch.linalg.eigh",
             best(lambda: torch.linalg.eigh(S)))]
    Y = torch.randn(3000, 125, generator=g, dtype=torch.float64)
    rows.append(("orthonormalize 3000 × 125", best(lambda: _orthonormalize(Y)),
                 "torch.linalg.qr (Householder)", best(lambda: torch.linalg.qr(Y))))
    c = torch.rand(256, 256, dtype=torch.float64, generator=g) * 2 - 1

    def block():
        for _ in range(20):
            t = torch.arccos(c)
            _ = (torch.sin(t) + (torch.pi - t) * torch.cos(t)) / (2 * torch.pi)

    def one_thread():
        with num_threads(1):
            block()

    rows.append(("20 arc-cosine maps on 256² (1 thread)", best(one_thread),
                 f"same with {torch.get_num_threads()} threads", best(block)))
    x = torch.randn(2000, 40, generator=g, dtype=torch.float64)
    arch = K.mlp(3, "relu", w_std=2 ** 0.5, b_std=0.1)
    rows.append(("MLP NTK 2000 × 2000, default blocks", best(lambda: arch.kernel(x), 2),
                 "one 2000-input block", best(lambda: arch.kernel(x, batch_size=2000), 2)))
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    print("| task | occamlab (s) | alternative | alternative (s) | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for name, ours, other, theirs in rows:
        print(f"| {name} | {ours:.4f} | {other} | {theirs:.4f} | {theirs / ours:.1f}× |")


if __name__ == "__main__":
    main()
