"""Peak memory of one Hessian–vector product on 60,000 inputs, against batch_size.

The 784-64-64-10 tanh MLP of ``landscape_vs_curvlinops.py`` on 60,000 Gaussian inputs (float32,
188 MB), cross-entropy, one thread. Each configuration runs in a fresh process; the figure is the
growth of peak resident memory (``ru_maxrss``) from just before building the operator to after
one product, so the inputs themselves are not counted. "handwritten" is a plain double-backward
HVP on all 60,000 rows at once.

Run: ``python benchmarks/landscape_memory_vs_batch_size.py``. Prints a Markdown table.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
N = 60_000


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


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
    before = _rss_mb()
    t0 = time.perf_counter()
    if mode == "handwritten":
        hv = handwritten_hvp(model, ce, x, y, v)
    else:
        bs = None if mode == "None" else int(mode)
        hv = LS.hessian(model, ce, (x, y), batch_size=bs) @ v
    return {"mode": mode, "seconds": time.perf_counter() - t0,
            "peak_growth_mb": _rss_mb() - before, "norm": float(hv.norm())}


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
