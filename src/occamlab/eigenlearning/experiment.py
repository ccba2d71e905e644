"""Whole experiments in one call: a kernel on a synthetic domain or a data pool, predicted (and
optionally measured) learning curves. What ``occamlab eigenlearn`` runs."""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import torch

from occamlab._check import check_int
from occamlab._cosine import as_cosine_function, kernel_matrix
from occamlab._torch import as_tensor
from occamlab.eigenlearning._compare import Comparison, compare
from occamlab.eigenlearning._measure import measure
from occamlab.eigenlearning._theory import Prediction, predict
from occamlab.spectra import from_kernel, hypercube, sphere
from occamlab.tasks import cube_points, parity, sphere_harmonic, sphere_points

DOMAINS = ("sphere", "cube")


def parse_target(text: str) -> dict[int, float]:
    """``"1:0.5,3:0.5"`` → {1: 0.5, 3: 0.5}: target power per degree (harmonic or parity)."""
    out: dict[int, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            k, p = part.split(":")
            out[int(k)] = float(p)
        except ValueError:
            raise ValueError(f"target must look like '1:0.5,3:0.5' (degree:power, ...), got "
                             f"{part!r}") from None
        if out[int(k)] < 0 or int(k) < 0:
            raise ValueError(f"target degrees and powers must be ≥ 0, got {part!r}")
    if not out or sum(out.values()) <= 0:
        raise ValueError(f"target must give some degree a positive power, got {text!r}")
    return out


def domain_curves(kernel: Any, domain: str, d: int, target: dict[int, float], ns: Any, *,
                  noise_var: float = 0.0, ridge: float = 0.0, max_degree: int = 30,
                  kind: str = "ntk", measured: bool = False, trials: int = 10,
                  n_test: int = 1000, seed: int = 0, progress: bool = True
                  ) -> tuple[Prediction, Comparison | None]:
    """Predicted learning curve of a dot-product kernel on the sphere S^{d-1} or the cube
    {−1,1}^d for a target made of unit-norm eigenfunctions (zonal harmonics or parities) with
    the given power per degree; with ``measured``, KRR beside it (fresh sphere samples; on the
    cube, training sets drawn without replacement from all 2^d vertices when d ≤ 12).

    Returns:
        (prediction, comparison or None).
    """
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
    d = check_int(d, "d", ge=2 if domain == "sphere" else 1)
    top = max_degree if domain == "sphere" else d
    bad = [k for k in target if k > top]
    if bad:
        raise ValueError(f"target degrees {bad} exceed the highest degree {top} of the "
                         f"{domain} spectrum" + (" (raise max_degree)" if domain == "sphere"
                                                 else ""))
    spec = sphere(kernel, d, max_degree, kind=kind) if domain == "sphere" else hypercube(
        kernel, d, kind=kind)
    tp = torch.zeros(top + 1, dtype=torch.float64)
    for k, p in target.items():
        tp[k] = p
    ns_t = as_tensor(ns, "ns", dtype=torch.float64, ndim=1)
    pred = predict(spec, ns_t, target_power=tp, ridge=ridge, noise_var=noise_var)
    if not measured:
        return pred, None
    fn = as_cosine_function(kernel, d, kind)
    if domain == "sphere":
        f = lambda x: sum(math.sqrt(p) * sphere_harmonic(x, k) for k, p in target.items())
        m = measure(fn, lambda n, g: sphere_points(n, d, generator=g), f, ns_t.long(),
                    trials=trials, ridge=ridge, noise_var=noise_var, seed=seed, n_test=n_test,
                    progress=progress)
        return pred, compare(spec, m, target_power=tp)
    f = lambda x: sum(math.sqrt(p) * parity(x, k) for k, p in target.items())
    if d <= 12:
        X = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=d)), dtype=torch.float64)
        with warnings.catch_warnings():
            # n > 0.2·M is fine here: the pool is the whole domain, so the pool identity is
            # exact rather than an approximation.
            warnings.simplefilter("ignore", UserWarning)
            m = measure(kernel_matrix(fn, X), None, f(X), ns_t.long(), trials=trials,
                        ridge=ridge, noise_var=noise_var, seed=seed, progress=progress)
    else:
        m = measure(fn, lambda n, g: cube_points(n, d, generator=g), f, ns_t.long(),
                    trials=trials, ridge=ridge, noise_var=noise_var, seed=seed, n_test=n_test,
                    progress=progress)
    return pred, compare(spec, m, target_power=tp)


def pool_curves(kernel: Any, X: Any, y: Any, ns: Any, *, ridge: float = 0.0,
                kind: str = "ntk", measured: bool = False, trials: int = 10, seed: int = 0,
                top_k: int | None = None, progress: bool = True
                ) -> tuple[Prediction, Comparison | None]:
    """Predicted (and optionally measured) learning curve of a kernel on a data pool.

    Integer labels become centred one-hot targets; float targets are used as they are. The
    prediction is on the pool distribution; measured KRR is on held-out pool points, compared
    through the finite-pool correction (Simon et al. 2023, arXiv 2110.03922).
    """
    y = as_tensor(y, "y")
    if not y.is_floating_point():
        c = int(y.max()) + 1
        y = torch.eye(c, dtype=torch.float64)[y.long()] - 1.0 / c
    K = kernel_matrix(kernel, X, kind=kind)
    spec = from_kernel(K, y, top_k=top_k, keep_eigenvectors=False)
    ns_t = as_tensor(ns, "ns", dtype=torch.float64, ndim=1)
    pred = predict(spec, ns_t, ridge=ridge)
    if not measured:
        return pred, None
    m = measure(K, None, y, ns_t.long(), trials=trials, ridge=ridge, seed=seed,
                progress=progress)
    return pred, compare(spec, m)


def curves_table(pred: Prediction, comp: Comparison | None) -> list[dict[str, float]]:
    """Rows for a CSV: n, predicted test/train MSE, and measured values when present."""
    rows = []
    for i in range(pred.n.numel()):
        row = {"n": float(pred.n.reshape(-1)[i]),
               "predicted_test_mse": float(pred.test_mse.reshape(-1)[i]),
               "predicted_train_mse": float(pred.train_mse.reshape(-1)[i]),
               "kappa": float(pred.kappa.reshape(-1)[i])}
        if comp is not None:
            row.update({"predicted_test_mse_heldout": float(comp.predicted_test[i]),
                        "measured_test_mse": float(comp.measured_test[i]),
                        "measured_test_se": float(comp.measured_test_se[i]),
                        "measured_train_mse": float(comp.measured_train[i])})
        rows.append(row)
    return rows
