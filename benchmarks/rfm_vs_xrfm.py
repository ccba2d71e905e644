"""occamlab.features.RFM against the xRFM package's RFM: accuracy and fit time, same data.

Both fit a Laplace-kernel RFM (bandwidth 10, ridge 1e-3, 5 iterations, full M, M divided by its
largest entry after each update as xRFM does, best iteration chosen on the same validation set,
no early stopping) on (a) y = x₀x₁ + sin(x₂) in d = 30 and (b) MNIST-1D classification.
occamlab runs in-process; xRFM in its own environment (benchmarks/envs/xrfm.txt). Both sides use
the same number of torch threads.

Usage: python benchmarks/rfm_vs_xrfm.py [--repeats 3] [--threads 2] [--n 2000]
Prints a Markdown section for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _peer import best_of, machine, run_peer  # noqa: E402

from occamlab.features import RFM  # noqa: E402
from occamlab.tasks import mnist1d  # noqa: E402


def _datasets(n: int) -> dict[str, dict[str, np.ndarray]]:
    g = np.random.default_rng(0)

    def xx(m):
        X = g.standard_normal((m, 30))
        return X, X[:, 0] * X[:, 1] + np.sin(X[:, 2])

    (x, y), (xv, yv), (xt, yt) = xx(n), xx(500), xx(1000)
    reg = dict(x=x, y=y, x_val=xv, y_val=yv, x_test=xt, y_test=yt)
    d = mnist1d(n_train=n, n_test=1500, seed=42)
    xf, xtf = (a.numpy() for a in d.flat())
    cls = dict(x=xf, y=d.y_train.numpy(), x_val=xtf[:500], y_val=d.y_test[:500].numpy(),
               x_test=xtf[500:], y_test=d.y_test[500:].numpy())
    return {"regression": reg, "classification": cls}


def _ours(data: dict[str, np.ndarray], task: str, dtype: torch.dtype, repeats: int):
    def fit():
        return RFM(kernel="laplace", bandwidth=10.0, ridge=1e-3, iters=5, normalize=True,
                   dtype=dtype, progress=False).fit(data["x"], data["y"], data["x_val"],
                                                    data["y_val"])

    t = best_of(fit, repeats)
    m = fit()
    pred = m.predict(data["x_test"]).numpy()
    if task == "classification":
        metric = float((pred == data["y_test"]).mean())
    else:
        metric = float(((pred - data["y_test"]) ** 2).mean())
    return t, metric, m.best_iter_


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=2000, help="training samples per task")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task, data in _datasets(args.n).items():
            path = Path(tmp) / f"{task}.npz"
            np.savez(path, **data)
            for dt_name, dt in (("float64", torch.float64), ("float32", torch.float32)):
                t, metric, it = _ours(data, task, dt, args.repeats)
                peer = run_peer("xrfm", HERE / "peers" / "xrfm_rfm.py", str(path), task,
                                dt_name, str(args.repeats), str(args.threads))
                rows.append((task, dt_name, t, metric, it, peer))
                print(f"{task} {dt_name}: occamlab {t:.3f} s, xrfm {peer['fit_s']:.3f} s",
                      file=sys.stderr, flush=True)
    name = {"regression": "test MSE", "classification": "test accuracy"}
    print(f"\n## features: RFM vs xRFM ({datetime.date.today()})\n")
    print(f"Command: `python benchmarks/rfm_vs_xrfm.py --repeats {args.repeats} --threads "
          f"{args.threads} --n {args.n}`. Machine: {machine()}; torch {torch.__version__} on "
          f"both sides, {args.threads} threads; xrfm {rows[0][5]['version']}. Fit time is "
          f"best of {args.repeats}; 6 kernel solves + 5 AGOPs on n = {args.n}.\n")
    print("| task | dtype | metric | occamlab | xrfm | occamlab fit (s) | xrfm fit (s) | "
          "time ratio occamlab/xrfm | best iter (occamlab, xrfm) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for task, dt_name, t, metric, it, peer in rows:
        print(f"| {task} | {dt_name} | {name[task]} | {metric:.4f} | {peer['metric']:.4f} | "
              f"{t:.3f} | {peer['fit_s']:.3f} | {t / peer['fit_s']:.2f} | {it}, "
              f"{peer['best_iter']} |")


if __name__ == "__main__":
    main()
