"""hessian-eigenthings 1.0.0a5 side of benchmarks/landscape_vs_curvlinops.py (its own env).

(The PyPI name hessian-eigenthings now carries a 2026 rewrite, 1.0.0a5, with Lanczos, Hutch++ and
SLQ; the 2019 power-iteration package is not on PyPI.)
"""

import json
import sys

import hessian_eigenthings as he
from landscape_common import best_of, fastest, handwritten_hvp, load_fixture, timed
from torch import nn

model, x, y, v = load_fixture(sys.argv[1])
ce = nn.CrossEntropyLoss()
h = he.HessianOperator(model, [(x, y)], he.supervised_loss(ce))
out = {"hvp_handwritten": best_of(lambda: handwritten_hvp(model, ce, x, y, v), 10),
       "hvp": best_of(lambda: h @ v, 10)}
out["hvp_agrees"] = float((h @ v - handwritten_hvp(model, ce, x, y, v)).abs().max())
t, cpu, ev = timed(lambda: he.lanczos(h, k=5, which="LA", tol=1e-3, seed=0))
out.update(eig_time=t, eig_cpu=cpu, eig_values=ev.eigenvalues.tolist(), eig_matvecs=ev.iterations)
out["hutchinson_time"], tr = fastest(lambda: he.trace(h, num_matvecs=30, method="hutchinson",
                                                    seed=0))
out["hutchinson"] = float(tr.estimate) if hasattr(tr, "estimate") else str(tr)
out["hutchpp_time"], tr = fastest(lambda: he.trace(h, num_matvecs=30, method="hutch++", seed=0))
out["hutchpp"] = float(tr.estimate) if hasattr(tr, "estimate") else str(tr)
out["density_time"], _ = fastest(lambda: he.spectral_density(h, num_runs=1, lanczos_steps=80,
                                                           seed=0))
print(json.dumps(out))
