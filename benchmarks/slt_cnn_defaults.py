"""slt.llc with every default on the 874-parameter MNIST-1D CNN: wall time, diagnostics, and the
same data as a tuple of tensors and as a DataLoader.

Conv1d(1,8,5) ReLU MaxPool(2) Conv1d(8,16,5) ReLU AdaptiveAvgPool(1) Flatten Linear(16,10),
float64, Adam (lr 1e-2) 1,500 full-batch steps on 2,000 signals of ``tasks.mnist1d``.

    .venv/bin/python benchmarks/slt_cnn_defaults.py [--loader-only | --tuple-only]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import torch
from torch import nn

from occamlab import slt
from occamlab._torch import num_threads
from occamlab.tasks import mnist1d


def cnn_and_data(n: int = 2000, steps: int = 1500) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    d = mnist1d(n_train=n, n_test=10)
    x, y = d.x_train, d.y_train
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv1d(1, 8, 5), nn.ReLU(), nn.MaxPool1d(2), nn.Conv1d(8, 16, 5),
                      nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(16, 10)).double()
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    lf = nn.CrossEntropyLoss()
    with num_threads(1):
        for _ in range(steps):
            opt.zero_grad()
            lf(m(x), y).backward()
            opt.step()
    return m.eval(), x, y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loader-only", action="store_true")
    ap.add_argument("--tuple-only", action="store_true")
    args = ap.parse_args()
    m, x, y = cnn_and_data()
    lf = nn.CrossEntropyLoss()
    with torch.no_grad():
        print(f"machine: {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}; train loss "
              f"{float(lf(m(x), y)):.4f}; {sum(p.numel() for p in m.parameters())} parameters")
    cases = []
    if not args.loader_only:
        cases.append(("(X, y) tensors", (x, y)))
    if not args.tuple_only:
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y),
                                             batch_size=256)
        cases.append(("DataLoader, batch 256", loader))
    print("| data | B | ε | γ | λ̂ ± SE | R̂ | ESS | Geweke z | steps | stop | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, data in cases:
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            r = slt.llc(m, lf, data, progress=False)
        sec = time.perf_counter() - t0
        print(f"| {name} | {r.batch_size} | {r.step_size:.3g} | {r.localization:.3g} | "
              f"{r.mean:.2f} ± {r.se:.2f} | {r.rhat:.3f} | {r.ess:.0f} | {r.geweke:.2f} | "
              f"{r.kept_steps * 2} | {r.stop} | {sec:.0f} |", flush=True)
        for m_ in w:
            print("   warning:", str(m_.message)[:150])
    print(f"load at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
