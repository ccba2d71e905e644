"""Peer side of slt_development.py: devinterp 1.3.2's estimate_learning_coeff_with_summary in a
loop over checkpoints (devinterp has no trajectory API: its users write this loop).

Usage: python devinterp_trajectory132.py SPEC.json. Prints one JSON line: the loop's wall time and
each checkpoint's estimate.
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
    models, loaders = [], []
    for path, data in zip(spec["states"], spec["datas"]):
        m = build_mlp(spec["arch"]).double()
        m.load_state_dict(torch.load(path, weights_only=True))
        models.append(m)
        d = np.load(data)  # each checkpoint's own (relabelled) targets
        loaders.append(DataLoader(TensorDataset(torch.as_tensor(d["x"]), torch.as_tensor(d["y"])),
                                  batch_size=spec["batch_size"], shuffle=True))
    t0 = time.perf_counter()
    means = []
    for i, (m, loader) in enumerate(zip(models, loaders)):
        out = estimate_learning_coeff_with_summary(
            m, loader=loader, evaluate=make_evaluate(nn.MSELoss()), sampling_method=SGLD,
            optimizer_kwargs=dict(lr=spec["step_size"], localization=spec["localization"],
                                  nbeta=spec["nbeta"]),
            num_chains=spec["chains"], num_draws=spec["draws"], num_burnin_steps=0,
            num_steps_bw_draws=1, init_loss=spec["init_losses"][i], device="cpu",
            verbose=False, seed=i)
        means.append(float(out["llc/mean"]))
    print(json.dumps({"time": time.perf_counter() - t0, "llc": means,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
