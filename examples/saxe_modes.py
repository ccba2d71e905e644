"""A deep linear network trained by gradient descent learns its modes as Saxe et al. predict.

Reproduces the mode-by-mode learning of Saxe, McClelland & Ganguli (arXiv 1312.6120): a linear
network f(x) = W_L⋯W_1 x (input 6, hidden 6, output 4) is trained by plain full-batch gradient
descent on ½·mean‖f(x) − y‖² over n = 200 whitened inputs, with a target map y = A x (singular
values 3, 2, 1, 0.5) plus output noise orthogonal to the inputs (the part no linear map explains).
Initialisation is balanced and aligned: every layer carries strength w₀ on each of the target's
modes, so each end-to-end mode strength u = w₀^L follows τ·du/dt = L·u^{2−2/L}(s − u) with
τ = 1/lr per step (``dynamics.saxe``). The figure overlays gradient descent (dots) on the
prediction (lines) for depth 2 and 3, and the loss on the plateaus ½·Σ_{i>k} sᵢ² + irreducible.

Measured (``python examples/saxe_modes.py``, lr = 0.01; largest gap |u_GD − u_pred| over training,
as a fraction of s₁)::

    depth 2: 0.0228 (w₀ = 0.03, 1500 steps)   halving lr: 0.0114
    depth 3: 0.0440 (w₀ = 0.15, 3000 steps)   halving lr: 0.0220

(23 s on a loaded 2-core machine.)

The gap is gradient descent's Euler error, first order in the learning rate (halving it halves the
gap), so the prediction is the small-learning-rate limit of training. A fast version runs in
tests/dynamics/test_saxe_example.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from occamlab import dynamics

SINGULAR_VALUES = (3.0, 2.0, 1.0, 0.5)


def train(depth: int, w0: float, lr: float, steps: int, *, n: int = 200, seed: int = 0,
          singular_values=SINGULAR_VALUES) -> dict:
    """Gradient descent from a balanced, aligned init; the mode strengths and loss at every step.

    Returns a dict with ``strengths`` (steps+1, m) = diag(Uᵀ·W_L⋯W_1·V) along training, ``loss``
    (steps+1,) and ``irreducible`` (the loss no linear map removes).
    """
    g = torch.Generator().manual_seed(seed)
    s = torch.tensor(singular_values, dtype=torch.float64)
    m, d_in, d_out, hidden = len(s), 6, 4, 6
    x = torch.randn(n, d_in, generator=g, dtype=torch.float64)
    x = x @ torch.linalg.inv(torch.linalg.cholesky(x.T @ x / n)).T  # whitened: xᵀx/n = I
    u, _ = torch.linalg.qr(torch.randn(d_out, m, generator=g, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(d_in, m, generator=g, dtype=torch.float64))
    noise = 0.3 * torch.randn(n, d_out, generator=g, dtype=torch.float64)
    noise -= x @ torch.linalg.solve(x.T @ x, x.T @ noise)  # orthogonal to the inputs
    y = x @ (u * s @ v.T).T + noise
    rs = [torch.linalg.qr(torch.randn(hidden, m, generator=g, dtype=torch.float64))[0]
          for _ in range(depth - 1)]
    outs, ins = [*rs, u], [v, *rs]  # layer l maps ins[l] directions to outs[l] with strength w0
    ws = [((o * w0) @ i.T).requires_grad_(True) for o, i in zip(outs, ins, strict=True)]
    strengths, losses = [], []
    for k in range(steps + 1):
        prod = ws[0]
        for w in ws[1:]:
            prod = w @ prod
        loss = 0.5 * ((x @ prod.T - y) ** 2).sum(1).mean()
        strengths.append(torch.diagonal(u.T @ prod.detach() @ v))
        losses.append(float(loss.detach()))
        if k < steps:
            grads = torch.autograd.grad(loss, ws)
            with torch.no_grad():
                for w, gr in zip(ws, grads, strict=True):
                    w -= lr * gr
    return {"strengths": torch.stack(strengths).numpy(), "loss": np.array(losses),
            "irreducible": 0.5 * float((noise ** 2).sum(1).mean())}


def run(depth: int, w0: float, lr: float, steps: int, **kw) -> dict:
    """Train and predict; adds ``prediction`` (a SaxeResult) and ``gap`` (max |u_GD − u|/s₁)."""
    out = train(depth, w0, lr, steps, **kw)
    s = kw.get("singular_values", SINGULAR_VALUES)
    pred = dynamics.saxe(s, w0 ** depth, np.arange(steps + 1), depth=depth, tau=1 / lr)
    out["prediction"] = pred
    out["gap"] = float(np.abs(out["strengths"] - pred.strengths.numpy()).max() / max(s))
    return out


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(5 * len(results), 6), sharex="col")
    axes = np.asarray(axes).reshape(2, -1)
    for col, (depth, r) in enumerate(results.items()):
        pred = r["prediction"]
        t = pred.times.numpy()
        every = max(1, len(t) // 60)
        ax = pred.plot(ax=axes[0, col])
        for i in range(r["strengths"].shape[1]):
            ax.plot(t[::every], r["strengths"][::every, i], "o", ms=2.5, color=f"C{i}")
        ax.set_title(f"depth {depth}: gradient descent (dots) vs prediction (lines)")
        ax.set_xlabel("")
        lax = axes[1, col]
        lax.plot(t, r["loss"], color="k", lw=1.2, label="gradient descent")
        lax.plot(t, pred.loss.numpy() + r["irreducible"], "--", color="C3", lw=1,
                 label="predicted")
        for level in pred.plateau_losses.numpy():
            lax.axhline(level + r["irreducible"], color="0.6", lw=0.6, ls=":")
        lax.set_xlabel("gradient-descent step")
        lax.set_ylabel("loss ½·mean‖f − y‖²")
        lax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--out", type=Path, default=Path("saxe_modes.png"))
    args = p.parse_args()
    torch.set_num_threads(1)
    settings = {2: (0.03, 1500), 3: (0.15, 3000)}
    results = {}
    for depth, (w0, steps) in settings.items():
        results[depth] = run(depth, w0, args.lr, steps)
        half = run(depth, w0, args.lr / 2, 2 * steps)
        print(f"depth {depth}: {results[depth]['gap']:.4f} (w₀ = {w0}, {steps} steps)   "
              f"halving lr: {half['gap']:.4f}")
    plot(results, args.out)
    print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
