"""Peer side of rfm_vs_xrfm.py: fit xRFM's RFM on arrays from an .npz file, print JSON last.

Usage: python xrfm_rfm.py data.npz {regression|classification} {float32|float64} repeats
The .npz holds x, y, x_val, y_val, x_test, y_test (class labels as integers for classification).
"""

import json
import sys
import time

import numpy as np
import torch
import xrfm


def main() -> None:
    path, task, dtype, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    torch.set_num_threads(int(sys.argv[5]) if len(sys.argv) > 5 else torch.get_num_threads())
    dt = torch.float32 if dtype == "float32" else torch.float64
    d = np.load(path)
    X, Xv, Xt = (torch.as_tensor(d[k], dtype=dt) for k in ("x", "x_val", "x_test"))
    classify = task == "classification"
    if classify:
        c = int(d["y"].max()) + 1
        eye = torch.eye(c, dtype=dt)
        Y, Yv = eye[d["y"]], eye[d["y_val"]]
    else:
        Y, Yv = (torch.as_tensor(d[k], dtype=dt)[:, None] for k in ("y", "y_val"))
    times, model = [], None
    for _ in range(repeats):
        model = xrfm.RFM(kernel="laplace", iters=5, bandwidth=10.0, device="cpu", verbose=False,
                    tuning_metric="accuracy" if classify else "mse")
        t0 = time.perf_counter()
        model.fit((X, Y), (Xv, Yv), iters=5, reg=1e-3, method="lstsq",
                  early_stop_rfm=False, verbose=False)
        times.append(time.perf_counter() - t0)
    pred = model.predict(Xt)
    pred = torch.as_tensor(np.asarray(pred.cpu() if torch.is_tensor(pred) else pred))
    if classify:
        labels = pred.argmax(1) if pred.ndim == 2 and pred.shape[1] > 1 else pred.reshape(-1)
        metric = float((labels.long().numpy() == d["y_test"]).mean())
    else:
        metric = float(((pred.reshape(-1).double().numpy() - d["y_test"]) ** 2).mean())
    print(json.dumps({"fit_s": min(times), "metric": metric, "best_iter": model.best_iter,
                      "version": xrfm.__version__, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
