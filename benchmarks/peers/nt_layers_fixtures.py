"""Reference kernels from neural-tangents 0.6.5 for branches, layer norm and local pooling.

    benchmarks/envs/neural_tangents/bin/python benchmarks/peers/nt_layers_fixtures.py \
        tests/kernels/data/nt_layers_reference.npz

Like ``nt_fixtures.py`` (same inputs: duplicate, parallel and antiparallel rows, x2 ≠ x1), for
architectures written in occamlab's spec grammar with residual blocks, fan-out/parallel/sum/
concat, layer norm after Dense and Conv, and average pooling in 1-D and 2-D with 'valid',
'same' and 'circular' padding. A small recursive parser of its own maps each spec to ``stax``:
``residual(f)`` → ``serial(FanOut(2), parallel(f, Identity()), FanInSum())``;
``avgpool(window, stride, padding)`` → ``AvgPool(window, strides)`` with the stride defaulting
to the window (occamlab's, PyTorch's convention); ``layernorm`` → ``LayerNorm(axis=-1)`` and
``layernorm(all)`` → ``LayerNorm(axis=(1, …, -1))`` in channels-last layout.
"""

from __future__ import annotations

import sys

import jax

jax.config.update("jax_enable_x64", True)

from neural_tangents import stax  # noqa: E402
from nt_fixtures import write_fixtures  # noqa: E402

CASES = [
    # residual MLPs at several depths and w_std/b_std
    ("dense(w=1.5,b=0.2) residual(relu dense(w=1.4,b=0.1)) relu dense", (6,)),
    ("dense(w=1.2,b=0.3) residual(relu dense(w=1.4,b=0.1) relu dense(w=0.9,b=0.2)) "
     "residual(erf dense(w=1.3)) relu dense(w=1.1,b=0.1)", (6,)),
    ("dense(w=1.4) residual(relu dense(w=1.4,b=0.1)) residual(relu dense(w=1.4,b=0.1)) "
     "residual(gelu dense(w=1.2,b=0.3)) residual(relu dense(w=0.7)) relu dense(w=1.3,b=0.2)",
     (6,)),
    # concatenation of different activations; a two-branch sum with affine layers in both
    ("dense(w=1.3,b=0.1) fanout(3) parallel(relu, erf, gelu) concat dense(w=1.2,b=0.2) relu "
     "dense", (6,)),
    ("dense(w=1.1,b=0.2) fanout(2) parallel(relu dense(w=1.5), abs dense(w=0.8,b=0.4)) sum erf "
     "dense", (6,)),
    # layer norm after Dense and Conv
    ("dense(w=1.5,b=0.5) layernorm relu dense(w=1.2,b=0.1) layernorm erf dense", (6,)),
    ("conv(3,same,w=1.4,b=0.3) layernorm relu conv(3,circular) layernorm(all) relu flatten "
     "dense", (2, 7)),
    ("conv(3,same,w=1.3,b=0.2) layernorm gelu conv(2x2,same,w=1.1) layernorm(all) relu gap "
     "dense", (2, 4, 5)),
    # average pooling, 1-D and 2-D, every padding, strides
    ("conv(3,same,w=1.4,b=0.1) relu avgpool(2) conv(3,same,w=1.3) relu flatten dense", (2, 8)),
    ("conv(3,circular,w=1.4,b=0.1) relu avgpool(3,2,same) conv(2,valid) relu gap dense", (2, 7)),
    ("conv(3,same,w=1.2) avgpool(2,1,same) relu conv(3,same,b=0.2) abs avgpool(3,1,circular) "
     "flatten dense", (2, 7)),
    ("avgpool(2) conv(3,same,w=1.5) relu flatten dense", (2, 8)),
    ("conv(3,same,w=1.4,b=0.1) relu avgpool(2x2) conv(2,same) erf flatten dense", (2, 4, 6)),
    ("conv(3,same) gelu avgpool(3,1,same) conv(3,same,w=1.3) relu avgpool(2x3,2x2,same) gap "
     "dense", (2, 5, 6)),
    # residual CNNs with pooling and layer norm
    ("conv(3,same,w=1.4,b=0.1) residual(relu conv(3,same,w=1.4,b=0.1)) relu avgpool(2) "
     "conv(3,same) residual(relu conv(3,circular,w=1.3)) relu gap dense", (2, 8)),
    ("conv(3,same,w=1.3,b=0.2) residual(layernorm relu conv(3,same,w=1.4)) "
     "residual(relu conv(3,same) relu conv(3,same,w=0.9,b=0.1)) relu gap dense(w=1.2,b=0.1)",
     (2, 4, 5)),
    ("conv(3,same,w=1.4,b=0.1) fanout(2) parallel(relu conv(3,same), relu conv(5,same,w=1.2)) "
     "concat "
     "conv(3,same) residual(relu conv(3,same)) layernorm relu gap dense", (2, 7)),
]


def _closing(text, start):
    depth = 0
    for i in range(start, len(text)):
        depth += text[i] == "("
        depth -= text[i] == ")"
        if depth == 0:
            return i
    raise ValueError(text)


def _tokens(spec):
    """(name, raw argument text or None) of each top-level layer."""
    out, i = [], 0
    while i < len(spec):
        if spec[i].isspace():
            i += 1
            continue
        j = i
        while j < len(spec) and (spec[j].isalnum() or spec[j] == "_"):
            j += 1
        name, raw = spec[i:j], None
        if j < len(spec) and spec[j] == "(":
            k = _closing(spec, j)
            raw, j = spec[j + 1:k], k + 1
        out.append((name, raw))
        i = j
    return out


def _split(raw):
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(raw):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(raw[start:i])
            start = i + 1
    return parts + [raw[start:]]


def _args(raw):
    args, kw = [], {}
    for part in (raw or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "=" in part:
            k, v = part.split("=")
            kw[{"w": "W_std", "b": "b_std"}[k.strip()]] = float(v)
        else:
            args.append(part)
    return args, kw


def _tuple(text, n):
    t = tuple(int(v) for v in text.split("x"))
    return t * n if len(t) == 1 else t


def build(spec: str, n: int):
    """Parse a spec into one stax layer for channels-last inputs with ``n`` spatial axes."""
    layers = []
    dn = ("NWC", "WIO", "NWC") if n == 1 else ("NHWC", "HWIO", "NHWC")
    simple = {"relu": stax.Relu, "abs": stax.Abs, "erf": stax.Erf, "gelu": stax.Gelu,
              "identity": stax.Identity, "flatten": stax.Flatten, "gap": stax.GlobalAvgPool,
              "sum": stax.FanInSum, "concat": stax.FanInConcat}
    for name, raw in _tokens(spec):
        if name == "residual":
            layers.append(stax.serial(stax.FanOut(2), stax.parallel(build(raw, n),
                                                                    stax.Identity()),
                                      stax.FanInSum()))
            continue
        if name == "parallel":
            layers.append(stax.parallel(*(build(b, n) for b in _split(raw))))
            continue
        args, kw = _args(raw)
        if name == "dense":
            layers.append(stax.Dense(1, W_std=kw.get("W_std", 1.0), b_std=kw.get("b_std", 0.0)))
        elif name == "conv":
            pad = (args[1] if len(args) > 1 else "same").upper()
            layers.append(stax.Conv(1, _tuple(args[0], n), padding=pad,
                                    W_std=kw.get("W_std", 1.0), b_std=kw.get("b_std", 0.0),
                                    dimension_numbers=dn))
        elif name == "avgpool":
            window = _tuple(args[0], n)
            nums = [a for a in args if a[0].isdigit()]
            names = [a for a in args if not a[0].isdigit()]
            strides = _tuple(nums[1], n) if len(nums) > 1 else window
            layers.append(stax.AvgPool(window, strides,
                                       padding=(names[0] if names else "valid").upper()))
        elif name == "layernorm":
            axis = tuple(range(1, n + 1)) + (-1,) if args and args[0] == "all" else -1
            layers.append(stax.LayerNorm(axis=axis))
        elif name == "fanout":
            layers.append(stax.FanOut(int(args[0])))
        elif name in simple:
            layers.append(simple[name]())
        else:
            raise ValueError(name)
    return stax.serial(*layers)


def main(out: str) -> None:
    write_fixtures(CASES, lambda spec, n: build(spec, n)[2], 20261201, out)

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "nt_layers_reference.npz")
