"""Empirical NTK of a finite network: occamlab vs neural-tangents 0.6.5, side by side.

    .venv/bin/python benchmarks/empirical_ntk_vs_neural_tangents.py [--repeats 3] [--dtypes ...]

The network: a width-512 MLP with 3 hidden ReLU layers and one output, NTK
parameterization (w_std = √2, b_std = 0.1), on X of shape (500, 100); kernel traced over the
outputs, x2 = None. The same weights go to both libraries (occamlab's ``arch.network`` is saved
and loaded into ``stax.Dense`` layers), and the kernels are checked to agree before any time is
reported. Pairs compared, in float32 and float64:

- occamlab ``method="layerwise"`` vs NT structured derivatives (implementation 3), goal ≤ 2×;
- occamlab ``method="jacobian"`` (the generic path) vs NT Jacobian contraction (implementation
  1), goal ≤ 1×.

Times are the best of ``--repeats`` calls after one warm-up; NT's are jitted steady-state calls
(its first, compiling call is reported too). Prints a Markdown section for RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _peer import best_of, machine, run_peer  # noqa: E402

from occamlab import kernels as K  # noqa: E402
from occamlab.kernels import empirical_ntk  # noqa: E402

N, D, WIDTH, DEPTH = 500, 100, 512, 3
W_STD, B_STD = 2**0.5, 0.1


def _network(dtype: torch.dtype) -> tuple[torch.nn.Module, torch.Tensor]:
    net = K.mlp(DEPTH, "relu", w_std=W_STD, b_std=B_STD).network((D,), width=WIDTH, seed=0,
                                                                  dtype=dtype)
    x = torch.randn(N, D, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return net, x.to(dtype)


def _save(net: torch.nn.Module, x: torch.Tensor, path: Path) -> None:
    arrays = {"x": x.double().numpy()}
    dense = [m for m in net.modules() if isinstance(getattr(m, "weight", None), torch.Tensor)]
    for i, m in enumerate(dense):
        fan_in = m.weight.shape[1]
        arrays[f"W{i}"] = m.weight.detach().double().numpy()
        arrays[f"b{i}"] = m.bias.detach().double().numpy()
        arrays[f"w_std{i}"] = np.array(m.scale * fan_in**0.5)
        arrays[f"b_std{i}"] = np.array(m.b_std)
    np.savez(path, **arrays)


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _time(fn, repeats: int) -> tuple[float, float, torch.Tensor]:
    t0 = time.perf_counter()
    k = fn()
    first = time.perf_counter() - t0
    return first, best_of(fn, repeats), k


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="for the Jacobian contractions")
    ap.add_argument("--fast-repeats", type=int, default=10,
                    help="for layerwise / structured derivatives (a fraction of a second each)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternating rounds of the fast pair (the best of all rounds counts)")
    ap.add_argument("--skip-jacobian", action="store_true", help="only the fast pair")
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    args = ap.parse_args()

    lines = [f"## Empirical NTK vs neural-tangents 0.6.5 ({datetime.date.today()})", "",
             "Command: `.venv/bin/python benchmarks/empirical_ntk_vs_neural_tangents.py"
             + "".join(f" {a}" for a in sys.argv[1:]) + "`  ",
             f"Machine: {machine()}, torch {torch.__version__} ({torch.get_num_threads()} "
             "threads)  ",
             f"Task: width-{WIDTH} MLP, {DEPTH} hidden ReLU layers, 1 output, NTK "
             f"parameterization, X ({N}, {D}), Θ(X, X) traced; best of {args.rounds} alternating "
             f"rounds × {args.fast_repeats} calls (layerwise, implementation 3) or of "
             f"{args.repeats} calls (Jacobian contractions), after a warm-up; NT jitted steady "
             "state (first = compiling call). "
             f"Load average at start: {_load()}.", "",
             "| dtype | occamlab | time (s) | neural-tangents | time (s) | NT first call (s) "
             "| ratio occamlab/NT | max rel. diff |",
             "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    pairs = [("layerwise", "structured_derivatives", "implementation 3", args.rounds,
              args.fast_repeats)]
    if not args.skip_jacobian:
        pairs.append(("jacobian", "jacobian_contraction", "implementation 1", 1, args.repeats))
    with tempfile.TemporaryDirectory() as tmp:
        for dname in args.dtypes:
            dtype = getattr(torch, dname)
            net, x = _network(dtype)
            path = Path(tmp) / f"mlp_{dname}.npz"
            _save(net, x, path)
            for ours, theirs, label, rounds, repeats in pairs:
                # Rounds alternate the two libraries so that a burst of load on this shared
                # machine does not land on one side only.
                best, ref = math.inf, {"best": math.inf}
                for r in range(rounds):
                    print(f"[{dname}] round {r + 1}: neural-tangents {theirs} ...", flush=True)
                    peer = run_peer("neural_tangents", HERE / "peers" / "nt_empirical.py",
                                    str(path), dname, theirs, str(repeats))[theirs]
                    if peer["best"] < ref["best"]:
                        ref = peer
                    print(f"[{dname}] round {r + 1}: occamlab {ours} ...", flush=True)
                    first, b, k = _time(
                        lambda m=ours, net=net, x=x: empirical_ntk(net, x, method=m), repeats)
                    best = min(best, b)
                k = k.double().numpy()
                corner = np.array(ref["corner"])
                diff = max(float(np.abs(k[:6, :6] - corner).max() / np.abs(corner).max()),
                           abs(float(k.sum()) - ref["sum"]) / abs(ref["sum"]))
                # The same weights and inputs must give the same kernel (float32: ~1e-5).
                if diff > (1e-3 if dname == "float32" else 1e-9):
                    raise SystemExit(f"kernels disagree ({dname}, {ours}): rel. diff {diff:.2e}")
                lines.append(f"| {dname} | `{ours}` | {best:.3f} | {label} | {ref['best']:.3f} "
                             f"| {ref['first']:.3f} | **{best / ref['best']:.2f}×** "
                             f"| {diff:.1e} |")
                print(f"    occamlab {best:.3f}s (first {first:.3f}s)  NT {ref['best']:.3f}s "
                      f"(first {ref['first']:.3f}s)  ratio {best / ref['best']:.2f}  "
                      f"diff {diff:.1e}", flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
