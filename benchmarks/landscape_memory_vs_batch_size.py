"""Peak memory of one Hessian–vector product on 60,000 inputs, against batch_size.

The 784-64-64-10 tanh MLP of ``landscape_vs_curvlinops.py`` on 60,000 Gaussian inputs (float32,
188 MB), cross-entropy, one thread. Each configuration runs in a fresh process; the figure is the
growth of resident memory (sampled from /proc every millisecond) from just before the product to
its peak during the product (after a warm-up on 10 rows and building the operator, which
validates the inputs), so the inputs themselves are not counted. "handwritten" is a plain
double-backward HVP on all 60,000 rows at once.

Run: ``python benchmarks/landscape_memory_vs_batch_size.py``. Prints a Markdown table.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
N = 60_000


def _rss_mb() -> float:
    """Current resident memory (Linux /proc), in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


class PeakRSS(threading.Thread):
    """Samples the current resident memory every millisecond; ``peak`` is the largest seen."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.running = _rss_mb(), True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, _rss_mb())
            time.sleep(0.001)


def measure(mode: str) -> dict:
    import torch
    from torch import nn

    sys.path.insert(0, str(HERE / "peers"))
    from landscape_common import handwritten_hvp

    from occamlab import landscape as LS

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(),
                          nn.Linear(64, 10))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(N, 784, generator=g)
    y = torch.randint(0, 10, (N,), generator=g)
    v = torch.randn(sum(p.numel() for p in model.parameters()), generator=g)
    ce = nn.CrossEntropyLoss()
    # warm up on 10 rows, so that libraries loaded on first use (autograd, torch.func) and the
    # validation of the inputs are not counted: the growth is then the product's own memory
    handwritten_hvp(model, ce, x[:10], y[:10], v)
    LS.hessian(model, ce, (x[:10], y[:10])) @ v
    LS.hessian(model, ce, (x[:10], y[:10]), batch_size=5) @ v
    h = None if mode == "handwritten" else LS.hessian(
        model, ce, (x, y), batch_size=None if mode == "None" else int(mode))
    before = _rss_mb()
    sampler = PeakRSS()
    sampler.start()
    t0 = time.perf_counter()
    if mode == "handwritten":
        hv = handwritten_hvp(model, ce, x, y, v)
    else:
        hv = h @ v
    seconds = time.perf_counter() - t0
    sampler.running = False
    sampler.join()
    return {"mode": mode, "seconds": seconds, "peak_growth_mb": max(sampler.peak, _rss_mb())
            - before, "norm": float(hv.norm())}


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(json.dumps(measure(sys.argv[1])))
        sys.exit()
    rows = []
    for mode in ["handwritten", "None", "10000", "1000", "100"]:
        out = subprocess.run([sys.executable, __file__, mode], capture_output=True, text=True,
                             check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"load average {os.getloadavg()[0]:.1f}\n")
    print("| HVP on 60,000 inputs | peak RSS growth (MB) | time (s) | ‖Hv‖ |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        label = ("hand-written double backward, all rows" if r["mode"] == "handwritten"
                 else f"occamlab, batch_size={r['mode']}")
        print(f"| {label} | {r['peak_growth_mb']:.0f} | {r['seconds']:.2f} | {r['norm']:.6g} |")
