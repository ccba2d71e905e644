"""Peer side of llc_vs_devinterp.py: devinterp 2.0.1's ``devinterp.slt.llc.llc``.

2.0.1 samples language models: a HuggingFace ``Dataset`` with an ``input_ids`` column and a
per-token loss ``(model, input_ids) -> (batch, seq-1)``. Regression rows are passed as
``input_ids = [x, y]`` (floats) and the per-row MSE is repeated over the seq-1 positions, so
devinterp's mean over positions is the per-row loss. Its init_loss comes from its own 32 batches.
Usage: python devinterp_llc201.py SPEC.json; prints one JSON line.
"""

import json
import sys
import tempfile
import time
import warnings

import numpy as np
import torch
from _common import build_mlp  # noqa: E402

warnings.filterwarnings("ignore")


def main():
    from datasets import Dataset
    from devinterp.slt.llc import llc

    spec = json.load(open(sys.argv[1]))
    torch.set_num_threads(1)
    d = np.load(spec["data"])
    x, y = d["x"].astype(np.float32), d["y"].astype(np.float32)
    m_in = x.shape[1]
    model = build_mlp(spec["arch"])
    model.load_state_dict(torch.load(spec["state"], weights_only=True))
    ds = Dataset.from_dict({"input_ids": np.concatenate([x, y], axis=1).tolist()})
    ds.set_format("torch")

    def loss_fn(model, ids):
        ids = ids.float()
        per_row = ((model(ids[:, :m_in]) - ids[:, m_in:]) ** 2).mean(dim=1)
        return per_row[:, None].expand(ids.shape[0], ids.shape[1] - 1)

    times, out = [], None
    for rep in range(spec["repeats"]):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            out = llc(model, ds, {}, lr=spec["step_size"], n_beta=spec["nbeta"],
                      loss_fn=loss_fn, num_chains=spec["chains"], num_draws=spec["draws"],
                      batch_size=spec["batch_size"], localization=spec["localization"],
                      init_seed=rep, output_path=f"{tmp}/out.zarr", device="cpu")
            times.append(time.perf_counter() - t0)
    per_chain = np.asarray(out["llc_per_chain"].values, dtype=float)
    trace = np.asarray(out["loss_trace"].values, dtype=float)
    same_init = spec["nbeta"] * (trace.mean(axis=1) - spec["init_loss"])
    print(json.dumps({"time": min(times), "llc_mean": float(per_chain.mean()),
                      "per_chain": per_chain.tolist(), "per_chain_same_init": same_init.tolist(),
                      "init_loss": float(out["init_loss"].values)}))


if __name__ == "__main__":
    main()
