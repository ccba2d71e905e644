"""LLC estimation speed and agreement: occamlab.slt._llc against devinterp 1.3.2 and 2.0.1.

Same model, data, chains (4), draws (500), batch size, step size, nβ, localization, and the same
L_n(w*) (the full-data loss, passed to devinterp as ``init_loss``), on a 5-5-5-5 deep linear
network and a small MLP, float32, one thread on both sides. devinterp runs chains one after
another (``cores=1``); occamlab advances them together. Estimates are compared in devinterp's
form nβ·(mean L_B(w_t) − L_n(w*)) and also shown in occamlab's own paired form.

Run: ``python benchmarks/llc_vs_devinterp.py`` (or ``make bench``). Prints a Markdown table.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _peer import best_of, machine, run_peer  # noqa: E402

from occamlab import slt  # noqa: E402

CHAINS, DRAWS = 4, 500


def build(arch: dict) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(arch["widths"][:-1], arch["widths"][1:], strict=True)):
        layers.append(nn.Linear(a, b, bias=arch["bias"]))
        if arch["relu"] and i < len(arch["widths"]) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def problem(name: str, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    if name == "deep linear 5-5-5-5":
        arch = {"widths": [5, 5, 5, 5], "bias": False, "relu": False}
        n = 10_000
        x = torch.randn(n, 5, generator=g)
        u, _ = torch.linalg.qr(torch.randn(5, 2, generator=g))
        v, _ = torch.linalg.qr(torch.randn(5, 2, generator=g))
        y = x @ ((u * torch.tensor([2.0, 1.0])) @ v.T).T + torch.randn(n, 5, generator=g)
    else:
        arch = {"widths": [10, 20, 20, 1], "bias": True, "relu": True}
        n = 10_000
        x = torch.randn(n, 10, generator=g)
        y = torch.sin(x[:, :1] * 2) + x[:, 1:2] * x[:, 2:3] + 0.3 * torch.randn(n, 1, generator=g)
    torch.manual_seed(seed)
    model = build(arch)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 2000)
    for _ in range(2000):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        sched.step()
    return arch, model, x, y


def main() -> None:
    torch.set_num_threads(1)
    rows = []
    for name in ["deep linear 5-5-5-5", "MLP 10-20-20-1"]:
        arch, model, x, y = problem(name)
        n = x.shape[0]
        nbeta = n / math.log(n)
        with torch.no_grad():
            init_loss = float(nn.functional.mse_loss(model(x), y))
        batch, step, gamma = 256, 1e-4 if "linear" in name else 5e-5, 100.0
        ours_kw = dict(nbeta=nbeta, step_size=step, localization=gamma, chains=CHAINS,
                       draws=DRAWS, burnin=0, thin=1, batch_size=batch, progress=False)
        res = {}

        def run_ours(res=res, model=model, x=x, y=y, ours_kw=ours_kw):
            res["r"] = slt.llc(model, nn.MSELoss(), (x, y), **ours_kw)

        t_ours = best_of(run_ours, repeats=3)
        r = res["r"]
        ours_devinterp_form = (nbeta * (r.traces.double().mean(dim=1) - init_loss)).numpy()
        with tempfile.TemporaryDirectory() as tmp:
            np.savez(Path(tmp) / "d.npz", x=x.numpy(), y=y.numpy())
            torch.save(model.state_dict(), Path(tmp) / "m.pt")
            spec = {"data": str(Path(tmp) / "d.npz"), "state": str(Path(tmp) / "m.pt"),
                    "arch": arch, "batch_size": batch, "step_size": step,
                    "localization": gamma, "nbeta": nbeta, "chains": CHAINS, "draws": DRAWS,
                    "init_loss": init_loss, "repeats": 3}
            (Path(tmp) / "spec.json").write_text(json.dumps(spec))
            peer = run_peer("devinterp132", HERE / "peers" / "devinterp_llc132.py",
                            str(Path(tmp) / "spec.json"))
            peer2 = run_peer("devinterp201", HERE / "peers" / "devinterp_llc201.py",
                             str(Path(tmp) / "spec.json"))
        se_ours = ours_devinterp_form.std(ddof=1) / math.sqrt(CHAINS)
        se_peer = np.std(peer["per_chain"], ddof=1) / math.sqrt(CHAINS)
        rows.append({
            "model": name, "params": sum(p.numel() for p in model.parameters()),
            "occamlab s": t_ours, "devinterp 1.3.2 s": peer["time"],
            "speed-up": peer["time"] / t_ours,
            "occamlab λ̂ (devinterp form)": f"{ours_devinterp_form.mean():.2f} ± {se_ours:.2f}",
            "devinterp λ̂": f"{np.mean(peer['per_chain']):.2f} ± {se_peer:.2f}",
            "occamlab λ̂ (paired)": f"{r.mean:.2f} ± {r.se:.2f}",
            "agree (|Δ| < 2·SE)": abs(ours_devinterp_form.mean() - np.mean(peer["per_chain"]))
            < 2 * math.hypot(se_ours, se_peer),
            "devinterp 2.0.1 s": peer2["time"], "speed-up vs 2.0.1": peer2["time"] / t_ours,
            "devinterp 2.0.1 λ̂ (same L_n(w*))":
                f"{np.mean(peer2['per_chain_same_init']):.2f} ± "
                f"{np.std(peer2['per_chain_same_init'], ddof=1) / math.sqrt(CHAINS):.2f}",
        })
    print(f"machine: {machine()}; torch {torch.__version__} (peer torch {peer['torch']})")
    print(f"settings: {CHAINS} chains × {DRAWS} draws, batch 256, nβ = n/log n, γ = 100, "
          f"float32, 1 thread, L_n(w*) on the full data for both")
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v)
                                for v in row.values()) + " |")


if __name__ == "__main__":
    main()
