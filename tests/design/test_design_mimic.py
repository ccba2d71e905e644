"""Fast version of examples/mimic.py: scikit-learn's wine instead of digits, smaller widths."""

import importlib.util
import math
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "examples" / "mimic.py"


def _example():
    spec = importlib.util.spec_from_file_location("occamlab_example_mimic", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_engineered_shallow_net_trains_like_the_deep_relu_net():
    mimic = _example()
    r = mimic.run(width=128, shallow_width=512, steps=300, lr=0.05, n_train=100, seed=1,
                  dataset="wine")
    n_test = 178 - 100
    # Both learn (chance is 0.40, the largest class) ...
    assert r["deep"] > 0.85 and r["shallow"] > 0.85
    # ... to accuracies within noise of each other: 3 standard errors of a difference of two
    # accuracies near p = 0.95 on 78 test samples, 3·√(2p(1−p)/78) ≈ 0.10 (measured 0.96/0.97).
    assert abs(r["deep"] - r["shallow"]) <= 3 * math.sqrt(2 * 0.95 * 0.05 / n_test)
    assert r["fit_error"] < 0.045  # the degree-5 minimax optimum, 4.38%


def test_unknown_dataset_named():
    with pytest.raises(ValueError, match="dataset must be one of \\['digits', 'wine'\\]"):
        _example().data_on_sphere(10, 0, "iris")
