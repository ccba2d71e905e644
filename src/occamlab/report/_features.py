"""Report section "features": the neural feature ansatz for an MLP and a CNN trained on MNIST-1D,
and the metric M that a recursive feature machine learns on the same data.

The trained networks are shared with other sections through ``study.cache`` (see
:func:`trained_models`).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from occamlab._torch import num_threads
from occamlab.features import RFM, nfa
from occamlab.report._page import Section

__all__ = ["section", "trained_models", "make_mlp", "make_cnn"]


def make_mlp(width: int = 128, n_classes: int = 10, length: int = 40) -> nn.Sequential:
    """The study's MLP: flattened signal → width → width → classes, ReLU."""
    return nn.Sequential(nn.Flatten(), nn.Linear(length, width), nn.ReLU(),
                         nn.Linear(width, width), nn.ReLU(), nn.Linear(width, n_classes))


def make_cnn(channels: int = 16, n_classes: int = 10, length: int = 40) -> nn.Sequential:
    """The study's CNN: two 'same' Conv1d(kernel 5) + ReLU, then a dense readout."""
    return nn.Sequential(nn.Conv1d(1, channels, 5, padding=2), nn.ReLU(),
                         nn.Conv1d(channels, channels, 5, padding=2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(channels * length, n_classes))


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    n = x.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        for start in range(0, n, 128):
            idx = perm[start:start + 128]
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def trained_models(study: Any) -> dict[str, nn.Module]:
    """The study's MLP and CNN, trained once and kept in ``study.cache``.

    Keys ``trained_mlp``, ``trained_cnn`` (float32, trained with Adam on cross-entropy) and
    ``init_mlp``, ``init_cnn`` (the same networks at initialisation). Seeded by ``study.seed``.
    """
    cache = study.cache
    if "trained_mlp" not in cache or "trained_cnn" not in cache:
        with num_threads(1):
            _train_models(study)
    return {k: cache[k] for k in ("trained_mlp", "trained_cnn", "init_mlp", "init_cnn")}


def _train_models(study: Any) -> None:
    cache = study.cache
    data = study.data
    n = 1000 if study.quick else data.x_train.shape[0]
    epochs = 15 if study.quick else 40
    x, y = data.x_train[:n].float(), data.y_train[:n]
    for key, factory, seed in (("mlp", make_mlp, 0), ("cnn", make_cnn, 1)):
        study.log(f"  training the {key.upper()} ({n} signals, {epochs} epochs)")
        torch.manual_seed(study.seed * 1000 + seed)
        model = factory(n_classes=data.n_classes, length=data.x_train.shape[-1])
        cache[f"init_{key}"] = copy.deepcopy(model).eval()
        _train(model, x, y, epochs, study.seed * 1000 + seed)
        cache[f"trained_{key}"] = model.eval()


def _shape(module: nn.Module) -> str:
    if isinstance(module, nn.Linear):
        return f"{module.in_features}→{module.out_features}"
    return f"{module.in_channels}→{module.out_channels} channels, {module.kernel_size[0]} taps"


def _nfa_finding(results: dict, accuracy: dict, n_classes: int, models: dict) -> str:
    """What the NFA rows show: the update's correlation, and where the raw correlation at
    initialisation is as high as after training."""
    parts = []
    for key, res in results.items():
        model = models[f"trained_{key}"]

        def name(layer: str, model: nn.Module = model) -> str:
            return f"{type(model.get_submodule(layer)).__name__} {layer}"

        rows = [r for r in res.rows if not r["centered"]]
        deltas = ", ".join(f"{name(r['layer'])}: {r['corr_delta']:.2f}" for r in rows
                           if r["corr_delta"] == r["corr_delta"])
        init_higher = [name(r["layer"]) for r in rows if r["corr_init"] >= r["corr"]]
        text = (f"the {key.upper()} (test accuracy {accuracy[key]:.3f}, chance "
                f"{1 / n_classes:.2f}) has update correlations corr((W−W₀)ᵀ(W−W₀), AGOP^½) of "
                f"{deltas or 'none defined'} by layer")
        if init_higher:
            text += (f"; in layer(s) {', '.join(init_higher)} the raw WᵀW correlates with the "
                     "AGOP at initialisation at least as well as after training, so there the "
                     "raw correlation says nothing about what training learned")
        parts.append(text)
    return "Neural feature ansatz: " + "; ".join(parts) + "."


def section(sec: Section, study: Any) -> None:
    # small networks and cache-sized solves: one intra-op thread avoids a barrier per op, which
    # on a busy machine costs more than the op (benchmarks/RESULTS.md, "Quality pass")
    with num_threads(1):
        _section(sec, study)


def _section(sec: Section, study: Any) -> None:
    import matplotlib.pyplot as plt

    data = study.data
    models = trained_models(study)
    n_agop = 500 if study.quick else 2000
    X = data.x_train[:n_agop].float()
    sec.text(
        "The neural feature ansatz (Radhakrishnan et al., Science 2024) says a trained layer's "
        "Gram matrix WᵀW is proportional to a power of the average gradient outer product "
        "(AGOP) of the network with respect to that layer's input. Below: the Pearson "
        "correlation of WᵀW, and of the update (W−W₀)ᵀ(W−W₀), with AGOP^½, layer by layer, for an "
        "MLP and a CNN trained on MNIST-1D; 'init' is the same correlation at initialisation "
        "(raw WᵀW already correlates there, which is why the update's correlation matters). For "
        f"convolutions the AGOP is over input patches. AGOPs averaged over {n_agop} training "
        "signals. The readout's gradient is constant, so its centered AGOP is zero and that "
        "correlation is undefined (nan)."
    )
    rows, results, accuracy = [], {}, {}
    for key in ("mlp", "cnn"):
        model, init = models[f"trained_{key}"], models[f"init_{key}"]
        acc = accuracy[key] = _accuracy(model, data.x_test.float(), data.y_test)
        study.log(f"  NFA of the {key.upper()} on {n_agop} signals")
        res = nfa(model, X, init_model=init, powers=(0.5,), progress=False)
        results[key] = res
        for r in res.rows:
            rows.append({"network": key.upper(), "test acc": acc, "layer": r["layer"],
                         "AGOP": "centered" if r["centered"] else "uncentered",
                         "corr(WᵀW)": r["corr"], "corr((W−W₀)ᵀ(W−W₀))": r["corr_delta"],
                         "init: corr(W₀ᵀW₀)": r["corr_init"]})
    sec.table(rows, caption=f"NFA correlations with AGOP^½ per layer (chance test accuracy "
              f"{1 / data.n_classes:.2f})", digits=3)
    sec.finding(_nfa_finding(results, accuracy, data.n_classes, models))
    fig, axes = plt.subplots(2, 2, figsize=(8, 7.5))
    for row, key, what in ((0, "mlp", "MLP first Linear"), (1, "cnn", "CNN first Conv1d")):
        name = results[key].layers[0]
        module = models[f"trained_{key}"].get_submodule(name)
        results[key].plot(axes[row], name, 0.5, label=f"{what} ({_shape(module)})")
    fig.tight_layout()
    sec.figure(fig, "nfa", caption="First layer of the MLP (top: 40 input positions) and of the "
               "CNN (bottom: the 5 taps of its filters): WᵀW beside AGOP^½.")

    # RFM on the raw signals: the metric it learns is a picture of which positions matter.
    n_rfm = 600 if study.quick else 2000
    iters = 2 if study.quick else 4
    study.log(f"  RFM on {n_rfm} signals, {iters} iterations")
    xf, xtf = data.flat()
    n_val = min(500, xtf.shape[0] // 2)
    rfm = RFM(iters=iters, bandwidth=10.0, ridge=1e-3, progress=False)
    rfm.fit(xf[:n_rfm], data.y_train[:n_rfm], xtf[:n_val], data.y_test[:n_val])
    test_acc = rfm.score(xtf[n_val:], data.y_test[n_val:])
    sec.text(
        f"A recursive feature machine (Laplace kernel, bandwidth 10, ridge 1e-3, {iters} "
        f"iterations) on {n_rfm} flattened MNIST-1D signals; the iteration was chosen on {n_val} "
        f"held-out signals (iteration {rfm.best_iter_} kept) and tested on the other "
        f"{xtf.shape[0] - n_val}: test accuracy {test_acc:.3f}."
    )
    sec.table([{"iteration": h["iter"], "train MSE": h["train_mse"],
                "validation MSE": h["val_mse"], "validation accuracy": h["val_accuracy"]}
               for h in rfm.history_], caption="RFM iterations", digits=3)
    # The validated fit may keep iteration 0 (M = I); show the metric of the last iteration.
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.8))
    im = ax[0].imshow(rfm.M_last_.numpy(), cmap="viridis")
    fig.colorbar(im, ax=ax[0], fraction=0.046)
    ax[0].set_title("learned M (signal position × position)")
    ax[1].plot(torch.diagonal(rfm.M_last_).numpy())
    ax[1].set_xlabel("signal position")
    ax[1].set_title("diag(M)")
    fig.tight_layout()
    sec.figure(fig, "rfm_M", caption=f"The metric M after iteration {iters} of the RFM on "
               "MNIST-1D: the AGOP of its own predictor, i.e. which signal positions (and pairs) "
               "the classifier is sensitive to.")
