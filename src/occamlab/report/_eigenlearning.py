"""Report section: eigenspectra of the MLP and CNN NTKs on MNIST-1D, kernel-target alignment, and
eigenlearning's predicted learning curves beside measured kernel regression.

The claim under test: "CNNs generalize better on images because their kernels align better with
the data". The section states what the numbers show, whichever way they go.
"""

from __future__ import annotations

import torch

from occamlab import eigenlearning as el
from occamlab import spectra
from occamlab.report._page import Section


def _kernels(study) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """The MLP and CNN NTKs on the study's signals: from the kernels section if it ran."""
    cached = study.cache.get("kernels")
    if cached is not None:
        return cached["x"], cached["y"], cached["ntk"]
    from occamlab.report._kernels import architectures

    n = study.n_signals
    x = torch.as_tensor(study.data.x_train[:n])
    y = torch.as_tensor(study.data.y_train[:n])
    return x, y, {name: arch.kernel(x, progress=False).ntk
                  for name, arch in architectures().items()}


def analyse(K: torch.Tensor, Y: torch.Tensor, ns: list[int], *, trials: int,
            seed: int) -> dict:
    """Spectrum, alignment, power in the top modes and predicted vs measured learning curve of
    one kernel on a pool (``Y`` one-hot targets, (M, C))."""
    M = K.shape[0]
    spec = spectra.from_kernel(K, Y, keep_eigenvectors=False)
    _, frac = spec.cumulative_power()
    meas = el.measure(K, None, Y, ns, trials=trials, seed=seed, progress=False)
    return {
        "spectrum": spec,
        "alignment": float(spectra.alignment(K, Y)),
        "power_top10": float(frac[min(9, M - 1)]),
        "power_top10pct": float(frac[max(0, M // 10 - 1)]),
        "comparison": el.compare(spec, meas),
    }


def section(sec: Section, study) -> None:
    import matplotlib.pyplot as plt

    x, y, ntks = _kernels(study)
    M = x.shape[0]
    n_classes = int(study.data.n_classes)
    Y = torch.eye(n_classes, dtype=torch.float64)[y] - 1.0 / n_classes
    top = int(0.2 * M)  # keep n/M ≤ 0.2, where the pool correction is accurate
    ns = sorted({max(2, top // 8), max(3, top // 4), max(4, top // 2), top})
    trials = 8 if study.quick else 20
    res = {name: analyse(K, Y, ns, trials=trials, seed=study.seed) for name, K in ntks.items()}
    study.cache["eigenlearning"] = res

    sec.text(
        f"Eigenlearning (Simon et al. 2023, arXiv 2110.03922) predicts the test error of kernel "
        f"regression from the kernel's eigenvalues on the data and the target's power in each "
        f"eigenmode. Here: the NTKs of the kernels section on a pool of M = {M} MNIST-1D "
        f"signals, with centred one-hot targets ({n_classes} outputs, MSE summed over outputs). "
        "Eigenvalues are those of K/M; the target's power per mode is (Uᵀy)²/M.")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, r in res.items():
        r["spectrum"].plot(list(axes), label=name)
    sec.figure(fig, "spectra", caption=(
        "Left: eigenvalue decay of each NTK on the pool. Right: fraction of the target's power "
        "in the top eigenmodes; a kernel whose top modes carry the target learns it from fewer "
        "samples."))
    rows = []
    for name, r in res.items():
        c = r["comparison"]
        rows.append({"architecture": name, "centred alignment": r["alignment"],
                     "target power in top 10 modes": r["power_top10"],
                     f"… in top {max(1, M // 10)} modes": r["power_top10pct"],
                     f"predicted test MSE (n={ns[-1]})": float(c.predicted_test[-1]),
                     f"measured test MSE (n={ns[-1]})": float(c.measured_test[-1]),
                     "predict-zero MSE": predict_zero_mse(Y)})
    sec.table(rows, caption="Kernel-target alignment (Cortes et al. 2012) and the target's power "
              "in the top modes.")

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, r in res.items():
        r["comparison"].plot(ax, label=name)
    ax.set_title("predicted (lines) vs measured KRR (points)")
    sec.figure(fig, "learning_curves", caption=(
        f"Test MSE of ridgeless kernel regression on held-out pool signals, mean ± SE of "
        f"{trials} draws, against the eigenlearning prediction with the finite-pool correction "
        "(Simon et al. 2023, arXiv 2110.03922)."))
    table = []
    for name, r in res.items():
        for row in r["comparison"].table():
            table.append({"architecture": name, **{k: v for k, v in row.items()
                                                   if "train" not in k}})
    sec.table(table, caption="Predicted and measured learning curves.")

    a_mlp, a_cnn = res["MLP"]["alignment"], res["CNN"]["alignment"]
    e_mlp = float(res["MLP"]["comparison"].measured_test[-1])
    e_cnn = float(res["CNN"]["comparison"].measured_test[-1])
    aligns = "aligns better" if a_cnn > a_mlp else "does not align better"
    learns = "lower" if e_cnn < e_mlp else "not lower"
    sec.finding(
        f"The CNN's NTK {aligns} with the labels than the MLP's (alignment {a_cnn:.3f} vs "
        f"{a_mlp:.3f}; target power in the top 10 modes {res['CNN']['power_top10']:.2f} vs "
        f"{res['MLP']['power_top10']:.2f}), and its measured test MSE at n = {ns[-1]} is "
        f"{learns} ({e_cnn:.3f} vs {e_mlp:.3f}). {_baseline_verdict(res, ns[-1], Y)} "
        f"{_agreement(res)}" + (" (A small pool: the quick version.)" if study.quick else ""))
    if "ResCNN" in res:
        sec.finding(_residual_verdict(res, ns[-1]))


def predict_zero_mse(Y: torch.Tensor) -> float:
    """The test MSE (summed over outputs) of predicting 0: the mean squared norm of the
    targets, 1 − 1/C for centred one-hot targets of C classes."""
    return float((Y ** 2).sum(1).mean())


def _baseline_verdict(res: dict, n: int, Y: torch.Tensor) -> str:
    base = predict_zero_mse(Y)
    worse = [k for k, r in res.items() if float(r["comparison"].measured_test[-1]) >= base]
    text = f"Predicting zero scores an MSE of {base:.3f}"
    if not worse:
        return text + f"; every kernel does better at n = {n}."
    return (text + f"; at n = {n} the {', '.join(worse)} "
            f"{'is' if len(worse) == 1 else 'are'} no better than that: "
            f"{'its' if len(worse) == 1 else 'their'} kernel regression has not yet learned "
            "the labels from so few signals.")


def _agreement(res: dict) -> str:
    """The largest deviation of prediction from measurement, signed, and where it occurs."""
    worst_name, worst_i, worst = None, 0, 0.0
    for name, r in res.items():
        rel = r["comparison"].relative_error
        i = int(rel.abs().argmax())
        if abs(float(rel[i])) >= abs(worst):
            worst_name, worst_i, worst = name, i, float(rel[i])
    n = int(res[worst_name]["comparison"].n[worst_i])
    return (f"Eigenlearning's prediction deviates from the measured error by at most "
            f"{100 * abs(worst):.1f}% (the {worst_name} at n = {n}: predicted "
            f"{'above' if worst > 0 else 'below'} measured by {100 * worst:+.1f}%).")


def _residual_verdict(res: dict, n: int) -> str:
    """What the residual CNN's numbers say beside the plain CNN's and the MLP's."""
    names = list(res)
    align = {k: r["alignment"] for k, r in res.items()}
    mse = {k: float(r["comparison"].measured_test[-1]) for k, r in res.items()}
    pred = {k: float(r["comparison"].predicted_test[-1]) for k, r in res.items()}
    by_mse = sorted(names, key=mse.get)
    best_align = max(names, key=align.get)
    rel = mse["ResCNN"] / mse["CNN"] - 1
    change = f"{100 * abs(rel):.0f}% {'lower' if rel < 0 else 'higher'}"
    return (
        f"The residual CNN (skip connections and local pooling): alignment "
        f"{align['ResCNN']:.3f} (CNN {align['CNN']:.3f}, MLP {align['MLP']:.3f}), measured test "
        f"MSE at n = {n} {mse['ResCNN']:.3f}, {change} than the plain CNN's (predicted "
        f"{pred['ResCNN']:.3f}). Ranked by measured test MSE: {' < '.join(by_mse)}; the best "
        f"aligned kernel is the {best_align}'s"
        + (", the one that also learns best." if best_align == by_mse[0] else
           f", while the {by_mse[0]} learns best: alignment alone does not rank them."))
