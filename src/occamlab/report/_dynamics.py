"""Report section "Dynamics": infinite-width predictions of training, and the kernel after it."""

from __future__ import annotations

import copy
import math

import numpy as np
import torch

from occamlab import kernels as K
from occamlab._plot import readable_log_axes
from occamlab._torch import num_threads
from occamlab.kernels import predict
from occamlab.report._page import Section

_W = math.sqrt(2.0)


def _one_hot(y: torch.Tensor, k: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(y, k).to(torch.float64)


def _mse(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((f - y) ** 2).mean()


def _gd(net, x, y, lr: float, steps: int, record: list[int], xt=None, save: bool = False,
        loss=_mse):
    """Full-batch GD on ``loss``; the train/test MSE (and copies) at the ``record`` steps."""
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    curve, saved = [], []
    for s in range(steps + 1):
        if s in record:
            if xt is not None:
                with torch.no_grad():
                    curve.append((float(((net(x) - y) ** 2).mean()),
                                  float(((net(xt[0]) - xt[1]) ** 2).mean())))
            if save:
                saved.append(copy.deepcopy(net))
        if s == steps:
            break
        opt.zero_grad()
        loss(net(x), y).backward()
        opt.step()
    return np.array(curve, dtype=float), saved


def _learning_curve(sec: Section, study) -> None:
    import matplotlib.pyplot as plt

    data, quick = study.data, study.quick
    n, m = (64, 64) if quick else (150, 150)
    width, seeds, steps = (128, 1, 40) if quick else (512, 1, 200)
    x, xt = data.x_train[:n].reshape(n, -1), data.x_test[:m].reshape(m, -1)
    y, yt = _one_hot(data.y_train[:n], 10), _one_hot(data.y_test[:m], 10)
    arch = K.mlp(2, "relu", w_std=_W, b_std=0.1, readout_w_std=1.0, readout_b_std=0.0)
    lr = 0.5 * predict.max_learning_rate(arch.kernel(x).ntk, y.numel())
    record = sorted({0, *np.unique(np.geomspace(1, steps, 12).astype(int)).tolist()})
    t = lr * np.array(record, dtype=float)
    fn = predict.gradient_descent_mse_ensemble(arch, x, y)
    # expected MSE over the ensemble: squared error of the mean plus the variance
    tr = fn(t, None, "ntk", compute_cov=True)
    te = fn(t, xt, "ntk", compute_cov=True)

    def expected(g, target):
        err = ((g.mean - target) ** 2).mean((-2, -1))
        return (err + g.covariance.diagonal(dim1=-2, dim2=-1).mean(-1)).numpy()

    pred_tr, pred_te = expected(tr, y), expected(te, yt)
    study.cache["dynamics"] = {"x_test": xt, "y_test": yt, "arch": arch, "steps": record,
                               "predicted_test": pred_te, "predicted_train": pred_tr}
    runs = [_gd(arch.network((x.shape[1],), width, seed=s, dtype=torch.float64, out_dim=10),
                x, y, lr, steps, record, (xt, yt))[0] for s in range(seeds)]
    net = np.mean(runs, axis=0)
    study.cache["dynamics"]["trained"] = net
    fig, ax = plt.subplots(figsize=(5.5, 4))
    steps_ax = np.maximum(record, 0.7)
    ax.plot(steps_ax, pred_tr, "-", color="C0", label="predicted train (ensemble)")
    ax.plot(steps_ax, pred_te, "-", color="C3", label="predicted test (ensemble)")
    ax.plot(steps_ax, net[:, 0], "o", color="C0", label=f"trained, width {width}: train")
    ax.plot(steps_ax, net[:, 1], "s", color="C3", label=f"trained, width {width}: test")
    ax.set_xscale("log")
    readable_log_axes(ax)
    ax.set_xlabel("gradient-descent step (step 0 drawn at 0.7)")
    ax.set_ylabel("MSE (one-hot targets)")
    ax.legend(fontsize=7)
    ax.set_title("infinite-width prediction vs a wide MLP")
    sec.figure(fig, "learning_curve", caption=(
        f"Expected train and test MSE of the infinite ensemble of infinitely wide MLPs (2 hidden "
        f"ReLU layers, NTK parameterization) trained by gradient descent on ½·MSE, from "
        f"predict.gradient_descent_mse_ensemble (mean and covariance), against {seeds} finite "
        f"network(s) of width {width} trained by full-batch GD with step {lr:.3g} (half the "
        f"maximal stable step) on {n} MNIST-1D signals ({m} test signals)."))
    gap = np.abs(net[:, 1] - pred_te) / pred_te
    sec.text(
        f"Over {steps} steps the predicted test MSE goes from {pred_te[0]:.3f} to "
        f"{pred_te[-1]:.3f} and the trained width-{width} network's from {net[0, 1]:.3f} to "
        f"{net[-1, 1]:.3f}; the largest relative gap between them along the curve is "
        f"{gap.max():.1%} (at step {record[int(gap.argmax())]}), which a single finite draw "
        "(the initial function is random) and finite width both contribute to.")


def _after(sec: Section, study) -> None:
    import matplotlib.pyplot as plt

    data, quick = study.data, study.quick
    n, m = (64, 64) if quick else (200, 200)
    steps, lr = (30, 0.1) if quick else (300, 0.1)
    x, xt = data.x_train[:n], data.x_test[:m]
    labels = data.y_train[:n]
    archs = {
        "MLP": K.serial(K.Flatten(), K.mlp(2, "relu", w_std=_W, b_std=0.1)),
        "CNN": K.serial(K.Conv(5, "circular", w_std=_W, b_std=0.1), K.Relu(),
                        K.Conv(5, "circular", w_std=_W, b_std=0.1), K.Relu(),
                        K.GlobalAvgPool(), K.Dense()),
    }
    widths = {"MLP": 128 if quick else 256, "CNN": 8 if quick else 16}
    record = sorted({0, *np.unique(np.geomspace(1, steps, 5 if quick else 7).astype(int))
                     .tolist()})
    n_ev = 32 if quick else 48
    rows, evolutions = [], {}
    for name, arch in archs.items():
        net = arch.network((1, 40), widths[name], seed=study.seed, dtype=torch.float64,
                           out_dim=10, parameterization="standard")
        init = copy.deepcopy(net)
        _, saved = _gd(net, x, labels, lr, steps, record, save=True,
                       loss=torch.nn.functional.cross_entropy)
        res = K.after_kernel(init, net, x, labels, xt, data.y_test[:m], ridge=1e-6)
        evolutions[name] = K.kernel_evolution(saved, x[:n_ev], labels[:n_ev], steps=record)
        rows.append({"architecture": f"{name} (width {widths[name]})",
                     "network acc": res.network_accuracy,
                     "initial-kernel acc": res.initial_kernel_accuracy,
                     "final-kernel acc": res.final_kernel_accuracy,
                     "initial-kernel MSE": res.initial_kernel_mse,
                     "final-kernel MSE": res.final_kernel_mse,
                     "kernel distance": res.kernel_distance,
                     "alignment init → final": f"{res.alignment_initial:.3f} → "
                                               f"{res.alignment_final:.3f}"})
    study.cache["dynamics"]["after"] = rows
    sec.table(rows, caption=(
        f"The after kernel: networks in standard parameterization trained {steps} full-batch GD "
        f"steps of rate {lr} on the cross-entropy of {n} MNIST-1D signals; kernel regression "
        f"on one-hot targets (ridge 1e-6) with the "
        f"empirical NTK (traced over the 10 outputs) at initialisation and after training; test "
        f"on {m} signals. Kernel distance 1 − cos(Θ₀, Θ_T); centered kernel–target alignment."))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, (name, ev) in zip(axes, evolutions.items()):
        ev.plot(ax=ax)
        ax.set_xscale("symlog", linthresh=1)
        ax.set_title(f"{name}: kernel evolution")
    sec.figure(fig, "kernel_evolution", caption=(
        "Distance of the empirical NTK from its initial value, its velocity (distance between "
        f"consecutive checkpoints per step) and its kernel–target alignment, on {n_ev} training "
        "signals (Fort et al. 2020)."))
    for r, (name, ev) in zip(rows, evolutions.items()):
        final = ev.distance[-1]
        early = record[min(range(len(record)), key=lambda i: abs(record[i] - steps / 10))]
        share = ev.distance[record.index(early)] / final if final > 0 else float("nan")
        gap_final = abs(r["final-kernel acc"] - r["network acc"])
        gap_init = abs(r["initial-kernel acc"] - r["network acc"])
        verdict = ("closer to the network than the initial kernel's" if gap_final < gap_init
                   else "no closer to the network than the initial kernel's")
        sec.text(
            f"{name}: the trained network reaches test accuracy {r['network acc']:.1%}; kernel "
            f"regression with its final NTK {r['final-kernel acc']:.1%} and with its initial NTK "
            f"{r['initial-kernel acc']:.1%}, so the final kernel's accuracy is {verdict}. The "
            f"kernel moved a distance {final:.3f} from its initial value, {share:.0%} of that by "
            f"step {early} of {steps}; its alignment with the labels went "
            f"{r['alignment init → final']}.")


def section(sec: Section, study) -> None:
    with num_threads(1):  # small networks: one thread avoids per-op barriers on a busy machine
        _section(sec, study)


def _section(sec: Section, study) -> None:
    sec.text(
        "Kernel space predicts training, not only the architecture's preference before it: a "
        "wide network trained by gradient descent evolves like its linearization, in closed form "
        "(Lee et al. 2019), and the kernel of a network after training tells how far real "
        "training departs from that picture (Fort et al. 2020; Long 2021).")
    _learning_curve(sec, study)
    _after(sec, study)
