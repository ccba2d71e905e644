"""Speed of the LLC engine: one llc call against a plain SGLD loop, and a 20-checkpoint
trajectory against 20 separate llc calls and against devinterp 1.3.2 in a loop.

(1) 4 chains × 200 steps, batch 500, a 96-parameter deep linear network (widths [4]*7, float32,
n = 10,000): ``slt.llc`` with fixed ε, γ, nβ against a hand-written sequential loop doing the
same work per step (the minibatch loss and gradient at w_t, L_B(w*) on the same batch, the SGLD
update), chain after chain.
(2) The 5→3→3→5 saddle-to-saddle network (examples/saddle_to_saddle.py) at 20 log-spaced
checkpoints, relabelled to each checkpoint's outputs: ``slt.trajectory`` (one batched run)
against 20 ``slt.llc`` calls at the same settings (4 chains × 300 steps, batch 512, fixed ε, γ),
and against devinterp 1.3.2's ``estimate_learning_coeff_with_summary`` in a loop (same settings,
MSE loss; devinterp runs its chains one after another). One torch thread on every side.

Run: ``python benchmarks/slt_development.py`` (``--only trajectory`` for case 2 alone,
``--no-peer`` to skip devinterp, ``--threads 2`` for two torch threads on every side). Prints
Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "examples"))

from _peer import best_of, machine, run_peer  # noqa: E402

from occamlab import slt  # noqa: E402
from occamlab.tasks import deep_linear_network, deep_linear_teacher  # noqa: E402

warnings.simplefilter("ignore")


def single_vs_loop() -> dict:
    widths = [4] * 7
    t = deep_linear_teacher(10_000, widths, 2, seed=0, dtype=torch.float32)
    m = deep_linear_network(widths, seed=0, dtype=torch.float32)
    nb, eps, gam, chains, steps, batch = 10_000 / math.log(10_000), 1e-5, 10.0, 4, 200, 500
    lf = nn.MSELoss()

    def ours():
        slt.llc(m, lf, t.data, nbeta=nb, step_size=eps, localization=gam, chains=chains,
                draws=steps, burnin=0, thin=1, batch_size=batch, progress=False)

    def loop():
        g = torch.Generator().manual_seed(0)
        star = {k: p.detach().clone() for k, p in m.named_parameters()}
        ref = deep_linear_network(widths, dtype=torch.float32)
        ref.load_state_dict(m.state_dict())
        for _ in range(chains):
            mc = deep_linear_network(widths, dtype=torch.float32)
            mc.load_state_dict(m.state_dict())
            for _ in range(steps):
                idx = torch.randint(0, 10_000, (batch,), generator=g)
                xb, yb = t.x[idx], t.y[idx]
                loss = lf(mc(xb), yb)
                with torch.no_grad():
                    lf(ref(xb), yb)  # L_B(w*) on the same batch, as llc records
                mc.zero_grad()
                loss.backward()
                with torch.no_grad():
                    for k, p in mc.named_parameters():
                        p.add_(-(eps / 2) * (nb * p.grad + gam * (p - star[k]))
                               + math.sqrt(eps) * torch.randn(p.shape, generator=g))

    t_ours, t_loop = best_of(ours, 5), best_of(loop, 5)
    return {"case": "llc, 4 chains × 200 steps, batch 500, 96-param DLN",
            "occamlab s": t_ours, "plain loop s": t_loop, "speed-up": t_loop / t_ours}


def trajectory_case(peer: bool = True, reps: int = 2) -> list[dict]:
    import saddle_to_saddle as s2s

    x, y = s2s.teacher()
    steps = np.unique(np.geomspace(5, 4000, 20).round()).astype(int).tolist()
    model, states = s2s.train(s2s.WIDTHS, x, y, steps)
    k = len(steps)
    nets = []
    for sd in states:
        m = deep_linear_network(s2s.WIDTHS)
        m.load_state_dict(sd)
        nets.append(m)
    n = x.shape[0]
    nb = n / math.log(n)
    kw = dict(nbeta=nb, step_size=2e-5, localization=10.0, chains=4, draws=300, burnin=0,
              thin=1, batch_size=512, progress=False)
    lf = nn.MSELoss()
    res = {}

    def batched():
        res["traj"] = slt.trajectory(nets, lf, (x, y), steps=steps, relabel=True, **kw)

    def separate():
        out = []
        for m in nets:
            with torch.no_grad():
                yk = m(x)
            out.append(slt.llc(m, lf, (x, yk), **kw).mean)
        res["sep"] = out

    t_traj, t_sep = best_of(batched, reps), best_of(separate, reps)
    rows = [{"case": f"trajectory of {k} checkpoints (5→3→3→5, relabelled)",
             "occamlab s": t_traj, "baseline": "20 separate slt.llc", "baseline s": t_sep,
             "speed-up": t_sep / t_traj}]
    if not peer:
        return rows
    with tempfile.TemporaryDirectory() as tmp:
        paths, init = [], []
        for i, m in enumerate(nets):
            with torch.no_grad():
                yk = m(x)
            np.savez(Path(tmp) / f"d{i}.npz", x=x.numpy(), y=yk.numpy())
            torch.save(m.state_dict(), Path(tmp) / f"m{i}.pt")
            paths.append(str(Path(tmp) / f"m{i}.pt"))
            init.append(0.0)
        # relabelled targets: each checkpoint has its own data set
        spec = {"datas": [str(Path(tmp) / f"d{i}.npz") for i in range(k)], "states": paths,
                "arch": {"widths": list(s2s.WIDTHS), "bias": False, "relu": False},
                "batch_size": 512, "step_size": 2e-5, "localization": 10.0, "nbeta": nb,
                "chains": 4, "draws": 300, "init_losses": init}
        (Path(tmp) / "spec.json").write_text(json.dumps(spec))
        try:
            peer = run_peer("devinterp132", HERE / "peers" / "devinterp_trajectory132.py",
                            str(Path(tmp) / "spec.json"))
            rows.append({"case": f"trajectory of {k} checkpoints (5→3→3→5)",
                         "occamlab s": t_traj, "baseline": "devinterp 1.3.2 in a loop",
                         "baseline s": peer["time"], "speed-up": peer["time"] / t_traj})
        except Exception as e:  # the peer environment could not be built here
            rows.append({"case": "devinterp 1.3.2", "occamlab s": t_traj,
                         "baseline": f"not run: {type(e).__name__}", "baseline s": float("nan"),
                         "speed-up": float("nan")})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["single", "trajectory"])
    ap.add_argument("--no-peer", action="store_true", help="skip devinterp")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=2, help="best of this many runs per side")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}; torch "
          f"{torch.__version__}; {args.threads} torch thread(s)")
    if args.only != "trajectory":
        a = single_vs_loop()
        print("| case | occamlab s | plain loop s | speed-up |\n|---|---|---|---|")
        print(f"| {a['case']} | {a['occamlab s']:.3f} | {a['plain loop s']:.3f} | "
              f"{a['speed-up']:.2f} |")
    if args.only == "single":
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        return
    rows = trajectory_case(peer=not args.no_peer, reps=args.reps)
    print("\n| case | occamlab s | baseline | baseline s | speed-up |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['occamlab s']:.2f} | {r['baseline']} | "
              f"{r['baseline s']:.2f} | {r['speed-up']:.2f} |")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
