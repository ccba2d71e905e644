"""Peer side of llc_vs_devinterp.py: devinterp 1.3.2's estimate_learning_coeff_with_summary.

Usage: python devinterp_llc132.py SPEC.json  — SPEC names the .npz data, the state_dict, the
architecture and the sampler settings. Prints one JSON line: best-of-3 wall time and the estimate.
"""

import json
import sys
import time
import warnings

import numpy as np
import torch
from _common import build_mlp
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

warnings.filterwarnings("ignore")


def main():
    from devinterp.optim.sgld import SGLD
    from devinterp.slt.sampler import estimate_learning_coeff_with_summary
    from devinterp.utils import make_evaluate

    spec = json.load(open(sys.argv[1]))
    torch.set_num_threads(1)
    d = np.load(spec["data"])
    x, y = torch.as_tensor(d["x"]), torch.as_tensor(d["y"])
    model = build_mlp(spec["arch"])
    model.load_state_dict(torch.load(spec["state"], weights_only=True))
    loader = DataLoader(TensorDataset(x, y), batch_size=spec["batch_size"], shuffle=True)
    times, out = [], None
    for rep in range(spec["repeats"]):
        t0 = time.perf_counter()
        out = estimate_learning_coeff_with_summary(
            model, loader=loader, evaluate=make_evaluate(nn.MSELoss()), sampling_method=SGLD,
            optimizer_kwargs=dict(lr=spec["step_size"], localization=spec["localization"],
                                  nbeta=spec["nbeta"]),
            num_chains=spec["chains"], num_draws=spec["draws"], num_burnin_steps=0,
            num_steps_bw_draws=1, init_loss=spec["init_loss"], device="cpu", verbose=False,
            seed=rep)
        times.append(time.perf_counter() - t0)
    per_chain = (spec["nbeta"] * (np.asarray(out["loss/trace"]).mean(axis=1)
                                  - spec["init_loss"])).tolist()
    print(json.dumps({"time": min(times), "llc_mean": float(out["llc/mean"]),
                      "llc_std": float(out["llc/std"]), "per_chain": per_chain,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
