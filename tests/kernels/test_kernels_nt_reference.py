"""Agreement with neural-tangents 0.6.5 (the field's reference implementation).

The fixture tests/kernels/data/nt_reference.npz was produced by
``benchmarks/envs/neural_tangents/bin/python benchmarks/peers/nt_fixtures.py
tests/kernels/data/nt_reference.npz`` (the NT environment is built by ``make bench`` from
benchmarks/envs/neural_tangents.txt). It holds, for 18 architectures written in occamlab's spec
grammar (every layer and activation with a closed form, 1-D and 2-D convolutions with 'same',
'circular', 'valid' padding and even filters, Flatten, GlobalAvgPool, depths 1–5, several
w_std/b_std), NT's float64 NNGP and NTK for x2 = None and for an x2 holding a duplicate, a
parallel and an antiparallel copy of rows of x1.

tests/kernels/data/nt_layers_reference.npz, from ``benchmarks/peers/nt_layers_fixtures.py``
the same way, holds 17 more: residual MLPs and CNNs (depths 1–4, several w_std/b_std), FanOut/
parallel with FanInSum and FanInConcat of different activations, LayerNorm over channels and
over everything after Dense and Conv, AvgPool in 1-D and 2-D with 'valid', 'same' and
'circular' padding and strides 1 and 2.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from occamlab import kernels as K

DATA = Path(__file__).parent / "data"
REFS = {name: np.load(DATA / f"{name}.npz") for name in ("nt_reference", "nt_layers_reference")}
REF = REFS["nt_reference"]
SPECS = json.loads(str(REF["specs"]))
CASES = [(name, i, spec) for name, ref in REFS.items()
         for i, spec in enumerate(json.loads(str(ref["specs"])))]

# The bar: 1e-10 relative (to the largest entry) in float64. Measured: ≤ 5e-16.
TOL = 1e-10
# Exact duplicates after a nonlinearity: NT computes θ = atan2(√(q1q2 − s²), s) with s and q
# rounded by different formulas, so its θ carries ~√eps ≈ 1e-8 noise (case 10 shows 2e-9);
# occamlab carries the diagonal exactly (θ = 0). √eps bounds the difference.
DUP_TOL = 1.5e-8


def duplicate_mask(x1, x2):
    a = x1.reshape(len(x1), -1)
    b = a if x2 is None else x2.reshape(len(x2), -1)
    return (a[:, None, :] == b[None, :, :]).all(-1)


@pytest.mark.parametrize("name,i,spec", CASES, ids=[s[:48] for _, _, s in CASES])
def test_matches_neural_tangents(name, i, spec):
    ref = REFS[name]
    arch = K.parse_spec(spec)
    x1, x2 = ref[f"x1_{i}"], ref[f"x2_{i}"]
    for other, suffix in ((None, "11"), (x2, "12")):
        k = arch.kernel(x1, other)
        dup = duplicate_mask(x1, other)
        for kind in ("nngp", "ntk"):
            got, want = getattr(k, kind).numpy(), ref[f"{kind}{suffix}_{i}"]
            scale = np.abs(want).max()
            err = np.abs(got - want) / scale
            assert err[~dup].max(initial=0) < TOL, (kind, suffix)
            assert err[dup].max(initial=0) < DUP_TOL, (kind, suffix)


def test_duplicates_equal_the_exact_diagonal():
    # occamlab's value at a duplicate pair across x1/x2 equals the self-kernel's diagonal entry
    # to rounding, which NT's does not need to (see DUP_TOL).
    i = 10
    arch = K.parse_spec(SPECS[i])
    x1, x2 = REF[f"x1_{i}"], REF[f"x2_{i}"]
    self_k, cross = arch.kernel(x1), arch.kernel(x1, x2)
    # x2[0] is x1[1]; a few ulps of difference from the two summation routes
    assert cross.ntk[1, 0].item() == pytest.approx(self_k.ntk[1, 1].item(), rel=1e-14)
