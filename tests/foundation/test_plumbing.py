"""Shared plumbing: conversion and validation, parameter handling, atomic files, model loading."""

import pickle

import numpy as np
import pytest
import torch
from torch import nn

from occamlab._io import _umask, write_text, write_with
from occamlab._load import load_arrays, load_model
from occamlab._torch import (
    as_tensor,
    batch_slices,
    call,
    flatten,
    make_generator,
    trainable_params,
    unflatten,
)


def test_as_tensor_names_the_argument_and_the_first_bad_entry():
    x = np.zeros((3, 2))
    x[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"x1 contains non-finite values \(1 NaN, 0 Inf; first "
                                         r"at index \(1, 0\)\)"):
        as_tensor(x, "x1")
    with pytest.raises(ValueError, match="must have 2 dimensions, got shape"):
        as_tensor(np.zeros(3), "x", ndim=2)
    with pytest.raises(TypeError, match="x must be a torch.Tensor or a NumPy array, got str"):
        as_tensor("abc", "x")


def test_as_tensor_keeps_dtype_and_device():
    t = torch.ones(2, dtype=torch.float32)
    assert as_tensor(t, "t") is t  # no copy when nothing changes
    assert as_tensor(np.ones(2), "a").dtype == torch.float64
    assert as_tensor(np.ones(2, dtype=np.float32), "a").dtype == torch.float32
    assert as_tensor(t, "t", dtype=torch.float64).dtype == torch.float64


def test_batch_slices_partition_the_range():
    for n, b in [(10, 3), (10, 10), (10, None), (1, 4)]:
        covered = [i for s in batch_slices(n, b) for i in range(n)[s]]
        assert covered == list(range(n))


def test_same_seed_same_numbers():
    a = torch.randn(5, generator=make_generator(7))
    b = torch.randn(5, generator=make_generator(7))
    c = torch.randn(5, generator=make_generator(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_flatten_unflatten_roundtrip_with_batch_dims():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    params = trainable_params(model)
    vec = flatten(params)
    assert vec.shape == (3 * 4 + 4 + 4 * 2 + 2,)
    back = unflatten(vec, params)
    assert all(torch.equal(back[k], params[k]) for k in params)
    stacked = unflatten(torch.stack([vec, 2 * vec]), params)
    assert torch.equal(stacked["0.weight"][1], 2 * params["0.weight"])
    with pytest.raises(ValueError, match="vector has 5 entries, parameters need 26"):
        unflatten(torch.zeros(5), params)


def test_call_substitutes_parameters():
    lin = nn.Linear(3, 2).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    w = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    b = torch.tensor([1.0, -1.0], dtype=torch.float64)
    # closed form of a Linear layer: x Wᵀ + b
    torch.testing.assert_close(call(lin, {"weight": w, "bias": b}, x), x @ w.T + b)
    torch.testing.assert_close(call(lin, trainable_params(lin), x), lin(x))


def test_no_trainable_parameters_is_an_error():
    with pytest.raises(ValueError, match="ReLU has no trainable parameters"):
        trainable_params(nn.ReLU())


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    write_text(target, "first")

    def broken(path):
        path.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_with(target, broken)
    assert target.read_text() == "first"
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()  # not mkstemp's private 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_load_model_roundtrip_and_refuses_code(tmp_path):
    src = tmp_path / "mymodels.py"
    src.write_text("import torch\ndef net():\n    return torch.nn.Linear(3, 2)\n")
    model = load_model(f"{src}:net")
    ckpt = tmp_path / "w.pt"
    torch.save(model.state_dict(), ckpt)
    again = load_model(f"{src}:net", ckpt)
    assert torch.equal(again.weight, model.weight)
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"weight": _Evil()}, protocol=2))
    with pytest.raises(ValueError, match=r"could not read checkpoint .*evil.pt as weights only: "
                                         r"it holds Python objects"):
        load_model(f"{src}:net", evil)
    with pytest.raises(ValueError, match="model must be 'module:factory'"):
        load_model("no_colon")
    with pytest.raises(ValueError, match="has no callable 'missing'"):
        load_model(f"{src}:missing")


def test_load_arrays_names_missing_arrays(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.ones((2, 3)), y=np.array([0, 1]))
    X, y = load_arrays(path, "X", "y")
    assert X.shape == (2, 3) and y.dtype == torch.int64
    with pytest.raises(ValueError, match=r"lacks array\(s\) \['labels'\]; it has \['X', 'y'\]"):
        load_arrays(path, "labels")


def test_as_tensor_keeps_scalars_zero_dimensional():
    assert as_tensor(3.0, "a").shape == ()
    assert as_tensor(np.ones((3, 2))[:, 0], "c").shape == (3,)  # non-contiguous view copied


def test_capture_of_outputs_only_accepts_keyword_calls():
    from occamlab._modules import Capture

    class KeywordCall(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(3, 2)

        def forward(self, x):
            return self.inner(input=x)  # no positional argument reaches the pre-hook

    model, x = KeywordCall(), torch.randn(4, 3)
    with Capture({"inner": model.inner}, inputs=False) as cap:
        out = model(x)
    assert cap.inputs["inner"] == []
    torch.testing.assert_close(cap.outputs["inner"][0], out)
