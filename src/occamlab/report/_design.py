"""Report section: reverse engineering a deep ReLU network's NTK into a shallow network.

The NTK of a 4-hidden-layer ReLU MLP is fitted by a non-negative degree-5 power series in the
cosine, which becomes a polynomial activation (Simon, Anand & DeWeese 2022, arXiv 2106.03186);
the section shows the two kernels, the activation, and how kernel regression with each does on
MNIST-1D.
"""

from __future__ import annotations

import math

import torch

from occamlab import design
from occamlab import kernels as K
from occamlab._linalg import ridge_solve
from occamlab.report._page import Section

DEPTH, W_STD, B_STD, DEGREE = 4, math.sqrt(2), 0.1, 5


def _on_sphere(x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """Flatten, centre, scale each signal to norm √d (where c = x·x'/d is the cosine)."""
    x = x.reshape(x.shape[0], -1).to(torch.float64) - mean
    return x / x.norm(dim=1, keepdim=True) * math.sqrt(x.shape[1])


def _krr_accuracy(k, xtr, ytr, xte, yte, n_classes: int) -> float:
    d = xtr.shape[1]
    gram = k((xtr @ xtr.T / d).clamp(-1, 1))
    cross = k((xte @ xtr.T / d).clamp(-1, 1))
    y = torch.nn.functional.one_hot(ytr, n_classes).to(torch.float64)
    # A ridge of 1e-6·mean diagonal only regularizes the solve (the kernels are PSD).
    ridge = 1e-6 * float(gram.diagonal().mean())
    alpha = ridge_solve(gram, y, ridge)
    return float(((cross @ alpha).argmax(1) == yte).to(torch.float64).mean())


def section(sec: Section, study) -> None:
    import matplotlib.pyplot as plt

    arch = K.mlp(DEPTH, "relu", w_std=W_STD, b_std=B_STD)
    deep = K.cosine_kernel(arch, 40, "ntk")
    act = design.activation_for(arch, degree=DEGREE, norm="max")
    lsq = design.power_series(arch, DEGREE)
    fit = act.fit
    shallow = design.shallow_kernel(act.coefficients)

    sec.text(
        f"Any dot-product kernel whose power series in the cosine has non-negative coefficients "
        f"is the NTK of a one-hidden-layer network with an engineered activation: with "
        f"φ = Σ aₖhₖ (normalized Hermite polynomials), NTK(c) = Σ (k+1)aₖ²cᵏ (Simon, Anand & "
        f"DeWeese 2022). Here the NTK of a {DEPTH}-hidden-layer ReLU MLP (w_std = √2, b_std = "
        f"{B_STD}) is fitted by the degree-{DEGREE} non-negative series with the smallest "
        f"maximum error on [−1, 1] ({100 * fit.relative_error:.1f}% of K(1); least squares "
        f"gives {100 * lsq.relative_error:.1f}%), which defines a polynomial activation."
    )
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    c = torch.linspace(-1, 1, 401, dtype=torch.float64)
    ax = axes[0]
    ax.plot(c, deep(c), "k", lw=2.5, label=f"{DEPTH}-hidden-layer ReLU NTK")
    ax.plot(c, shallow(c), "C3--", lw=1.8, label=f"engineered shallow NTK (degree {DEGREE})")
    ax.set_xlabel("cosine c")
    ax.set_ylabel("NTK(c)")
    ax.legend(fontsize=8)
    ax = axes[1]
    z = torch.linspace(-3, 3, 401, dtype=torch.float64)
    ax.plot(z, act(z), "C3", lw=2, label="engineered φ(z)")
    ax.plot(z, torch.relu(z) * W_STD, "k:", label="√2·ReLU(z) (for scale)")
    ax.set_xlabel("preactivation z")
    ax.set_ylabel("φ(z)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    sec.figure(fig, "kernel_and_activation",
               caption="Left: the deep network's NTK and the engineered shallow NTK over it, "
                       "as functions of the cosine between inputs on the sphere. Right: the "
                       "engineered activation.")
    k = torch.arange(DEGREE + 1)
    sec.table([{"k": int(i), "bₖ (kernel)": float(fit.coefficients[i]),
                "aₖ (activation)": float(act.coefficients[i])} for i in k],
              caption="Power-series coefficients of the fitted kernel and Hermite coefficients "
                      "of the activation, aₖ = √(bₖ/(k+1)).")

    data = study.data
    n_train = study.n_signals
    n_test = 200 if study.quick else 1000
    mean = data.x_train.reshape(len(data.x_train), -1).to(torch.float64).mean(0)
    xtr = _on_sphere(data.x_train[:n_train], mean)
    xte = _on_sphere(data.x_test[:n_test], mean)
    ytr, yte = data.y_train[:n_train], data.y_test[:n_test]
    d = xtr.shape[1]
    cs = (xtr @ xtr.T / d).clamp(-1, 1)
    k_deep, k_shallow = deep(cs), shallow(cs)
    gap = float(torch.linalg.norm(k_shallow - k_deep) / torch.linalg.norm(k_deep))
    worst = float((k_shallow - k_deep).abs().max() / deep(torch.ones((), dtype=torch.float64)))
    rows = [
        {"kernel": f"{DEPTH}-hidden-layer ReLU NTK",
         "test accuracy": _krr_accuracy(deep, xtr, ytr, xte, yte, data.n_classes)},
        {"kernel": f"engineered shallow NTK (degree {DEGREE})",
         "test accuracy": _krr_accuracy(shallow, xtr, ytr, xte, yte, data.n_classes)},
    ]
    chance = 1.0 / data.n_classes
    sec.table(rows, caption=f"Kernel regression on MNIST-1D ({n_train} training signals, "
                            f"{n_test} test; signals centred and put on the sphere); chance "
                            f"accuracy is {chance:.2f}.")
    a_deep, a_shallow = (r["test accuracy"] for r in rows)
    # two accuracies on the same n_test signals differ by noise of about √(2·a(1−a)/n_test)
    noise = math.sqrt(2 * max(a_deep * (1 - a_deep), 1e-12) / n_test)
    same = abs(a_deep - a_shallow) <= 2 * noise
    sec.finding(
        f"The degree-{DEGREE} engineered NTK is within {100 * fit.relative_error:.1f}% of K(1) "
        f"of the deep ReLU NTK everywhere on [−1, 1]; on these signals the two kernel matrices "
        f"differ by {100 * gap:.1f}% (Frobenius, relative) and kernel regression with them "
        f"scores {a_deep:.3f} (deep) and {a_shallow:.3f} (shallow) test accuracy against "
        f"chance {chance:.2f}: "
        + ("the same within the noise of the test set (±" if same else
           "a difference beyond the noise of the test set (±") + f"{2 * noise:.3f}).")
    study.cache["design"] = {"fit_relative_error": fit.relative_error, "kernel_gap": gap,
                             "worst_entry_error": worst,
                             "accuracy": {r["kernel"]: r["test accuracy"] for r in rows}}
