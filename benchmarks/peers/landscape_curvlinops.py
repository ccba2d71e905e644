"""curvlinops-for-pytorch 3.0.1 side of benchmarks/landscape_vs_curvlinops.py (its own env)."""

import json
import sys

import numpy as np
import torch
from curvlinops import HessianLinearOperator
from curvlinops.papyan2020traces.spectrum import lanczos_approximate_spectrum
from curvlinops.trace.hutchinson import hutchinson_trace
from curvlinops.trace.meyer2020hutch import hutchpp_trace
from landscape_common import best_of, fastest, handwritten_hvp, load_fixture, timed
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import nn

model, x, y, v = load_fixture(sys.argv[1])
ce = nn.CrossEntropyLoss()
params = [p for p in model.parameters()]
h = HessianLinearOperator(model, ce, params, [(x, y)], check_deterministic=False)
out = {"hvp_handwritten": best_of(lambda: handwritten_hvp(model, ce, x, y, v), 10),
       "hvp": best_of(lambda: h @ v, 10)}
out["hvp_agrees"] = float((h @ v - handwritten_hvp(model, ce, x, y, v)).abs().max())
hs = h.to_scipy()
count = {"n": 0}


def matvec(u):
    count["n"] += 1
    return hs @ u


op = LinearOperator(hs.shape, matvec=matvec, dtype=np.float32)
v0 = np.random.default_rng(0).standard_normal(hs.shape[0]).astype(np.float32)


def top5():
    count["n"] = 0
    return eigsh(op, k=5, which="LA", tol=1e-3, v0=v0)


t, cpu, (vals, _) = timed(top5)
out.update(eig_time=t, eig_cpu=cpu, eig_values=sorted(vals.tolist(), reverse=True),
           eig_matvecs=count["n"])


def seeded(fn):  # curvlinops' probes come from torch's, its start vectors from NumPy's RNG
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002
    return fn()


out["hutchinson_time"], tr = fastest(lambda: seeded(lambda: hutchinson_trace(h, 30)))
out["hutchinson"] = float(tr)
out["hutchpp_time"], tr = fastest(lambda: seeded(lambda: hutchpp_trace(h, 30)))
out["hutchpp"] = float(tr)
out["density_time"], _ = fastest(lambda: seeded(
    lambda: lanczos_approximate_spectrum(h, ncv=80, num_repeats=1)))
print(json.dumps(out))
