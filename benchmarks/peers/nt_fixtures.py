"""Reference kernels from neural-tangents 0.6.5 for occamlab's tests (runs in the NT env).

    python benchmarks/_peer.py-built env:  benchmarks/envs/neural_tangents/bin/python \
        benchmarks/peers/nt_fixtures.py tests/kernels/data/nt_reference.npz

Each case is an architecture written in occamlab's spec grammar (parsed here by a small
independent parser into ``stax`` layers), inputs in PyTorch layout (N, C, W) / (N, C, H, W)
(transposed to channels-last for NT), and NT's NNGP and NTK in float64, for ``x2=None`` and for
a second input set holding a duplicate, a parallel and an antiparallel copy of rows of x1.
Inputs are multiples of 1/16 so that first-layer dot products are exact on both sides.
"""

from __future__ import annotations

import json
import re
import sys

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from neural_tangents import stax  # noqa: E402

CASES = [
    # (spec, per-example input shape)
    ("dense(w=1.4142135623730951) relu dense", (6,)),
    ("dense(w=1.5,b=0.3) relu dense(w=1.5,b=0.3) relu dense(w=1.5,b=0.3) relu dense(w=0.8,b=0.2)",
     (6,)),
    ("dense(w=1.2,b=0.1) gelu dense(w=0.9,b=0.4) erf dense", (6,)),
    ("dense(w=2,b=0.5) sign dense(w=1.3,b=0.2) relu dense", (6,)),
    ("dense abs dense(w=0.7,b=1.0) leakyrelu(0.2) dense(w=1.1,b=0.05)", (6,)),
    ("dense identity dense(w=1.1,b=0.3) erf dense(w=1.7,b=0.6) gelu dense", (6,)),
    ("dense(w=1.3,b=0.2) erf dense(w=1.3,b=0.2) erf dense(w=1.3,b=0.2) erf dense(w=1.3,b=0.2) "
     "erf dense", (6,)),
    ("flatten dense(w=1.4,b=0.1) relu dense", (2, 7)),
    ("conv(3,same,w=1.41,b=0.1) relu flatten dense(w=1.41,b=0.1) erf dense", (2, 7)),
    ("conv(3,circular,w=1.41,b=0.1) relu flatten dense(w=1.41,b=0.1) erf dense", (2, 7)),
    ("conv(3,valid,w=1.2,b=0.3) gelu conv(2,valid,w=1.4,b=0.1) relu flatten dense", (2, 7)),
    ("conv(4,same,w=1.3,b=0.2) relu conv(4,circular,w=1.5) abs flatten dense", (2, 7)),
    ("conv(3,circular,w=1.3,b=0.2) relu conv(3,same,w=1.5,b=0.1) gelu gap dense(w=1.2,b=0.3)",
     (2, 7)),
    ("conv(5,same,w=0.9,b=0.4) leakyrelu(0.3) gap dense relu dense", (2, 7)),
    ("conv(3,same,w=1.4,b=0.1) sign conv(3,same) identity flatten dense", (2, 7)),
    ("conv(3,same,w=1.4,b=0.1) relu conv(2x3,valid,w=1.2,b=0.2) erf gap dense", (2, 4, 5)),
    ("conv(3,circular) leakyrelu(0.1) flatten dense(w=1.5,b=0.5) relu dense", (2, 4, 5)),
    ("conv(2,same) abs conv(3,circular,w=1.1,b=0.3) gelu flatten dense", (2, 4, 5)),
]


def _args(raw):
    args, kwargs = [], {}
    for part in (raw or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "=" in part:
            k, v = part.split("=")
            kwargs[{"w": "W_std", "b": "b_std"}[k.strip()]] = float(v)
        else:
            args.append(part)
    return args, kwargs


def build(spec: str, n_spatial: int):
    """Parse a spec into NT layers for channels-last inputs with ``n_spatial`` spatial axes."""
    layers = []
    for name, raw in re.findall(r"([a-z]+)(?:\(([^()]*)\))?", spec):
        args, kw = _args(raw)
        if name == "dense":
            layers.append(stax.Dense(1, W_std=kw.get("W_std", 1.0), b_std=kw.get("b_std", 0.0)))
        elif name == "conv":
            fs = tuple(int(v) for v in args[0].split("x"))
            fs = fs * n_spatial if len(fs) == 1 else fs
            dn = ("NWC", "WIO", "NWC") if n_spatial == 1 else ("NHWC", "HWIO", "NHWC")
            pad = (args[1] if len(args) > 1 else "same").upper()
            layers.append(stax.Conv(1, fs, padding=pad, W_std=kw.get("W_std", 1.0),
                                    b_std=kw.get("b_std", 0.0), dimension_numbers=dn))
        elif name == "flatten":
            layers.append(stax.Flatten())
        elif name == "gap":
            layers.append(stax.GlobalAvgPool())
        elif name == "relu":
            layers.append(stax.Relu())
        elif name == "leakyrelu":
            layers.append(stax.LeakyRelu(float(args[0])))
        elif name == "abs":
            layers.append(stax.Abs())
        elif name == "erf":
            layers.append(stax.Erf())
        elif name == "gelu":
            layers.append(stax.Gelu())
        elif name == "sign":
            layers.append(stax.Sign())
        elif name == "identity":
            layers.append(stax.Identity())
        else:
            raise ValueError(name)
    return stax.serial(*layers)[2]


def inputs(shape, rng):
    x1 = np.round(rng.standard_normal((5, *shape)) * 16) / 16
    x1[3] = x1[0]            # duplicate inside x1
    x1[4] = 0.5 * x1[1]      # parallel inside x1
    x2 = np.round(rng.standard_normal((4, *shape)) * 16) / 16
    x2[0] = x1[1]            # duplicate across sets
    x2[1] = 2.0 * x1[2]      # parallel across sets
    x2[2] = -x1[0]           # antiparallel across sets
    return x1, x2


def channels_last(x):
    return x if x.ndim == 2 else np.moveaxis(x, 1, -1)


def write_fixtures(cases, kernel_fn_of, seed: int, out: str) -> None:
    """For each (spec, shape) case: inputs x1, x2 and NT's NNGP/NTK of (x1, x1) and (x1, x2),
    with ``kernel_fn_of(spec, n_spatial)`` giving the case's kernel_fn; saved to ``out``."""
    rng = np.random.default_rng(seed)
    data = {"specs": np.array(json.dumps([s for s, _ in cases]))}
    for i, (spec, shape) in enumerate(cases):
        kernel_fn = kernel_fn_of(spec, len(shape) - 1)
        x1, x2 = inputs(shape, rng)
        a, b = channels_last(x1), channels_last(x2)
        k11 = kernel_fn(a, None, ("nngp", "ntk"))
        k12 = kernel_fn(a, b, ("nngp", "ntk"))
        data[f"x1_{i}"], data[f"x2_{i}"] = x1, x2
        data[f"nngp11_{i}"], data[f"ntk11_{i}"] = np.asarray(k11.nngp), np.asarray(k11.ntk)
        data[f"nngp12_{i}"], data[f"ntk12_{i}"] = np.asarray(k12.nngp), np.asarray(k12.ntk)
    np.savez_compressed(out, **data)
    print(json.dumps({"cases": len(cases), "out": out}))


def main(out: str) -> None:
    write_fixtures(CASES, build, 20240601, out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "nt_reference.npz")
