"""Fast version of examples/saxe_modes.py: two modes, depth 3, a few hundred steps."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[2] / "examples" / "saxe_modes.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("occamlab_example_saxe_modes", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gradient_descent_tracks_prediction_to_first_order(example, tmp_path):
    kw = {"singular_values": (2.0, 1.0), "n": 40}
    r = example.run(3, 0.15, 0.02, 700, **kw)
    half = example.run(3, 0.15, 0.01, 1400, **kw)
    # The gap is gradient descent's Euler error, first order in lr: halving lr halves it
    # (2 up to the O(lr²) remainder), and at lr = 0.02 it is a few percent of s₁ (measured 0.047).
    assert 1.8 < r["gap"] / half["gap"] < 2.2
    assert r["gap"] < 0.08
    # every mode learned: the loss ends on the last plateau, the part no linear map explains
    pred = r["prediction"]
    assert float(pred.half_times[-1]) < 350
    assert r["loss"][-1] == pytest.approx(r["irreducible"] + float(pred.plateau_losses[-1]),
                                          abs=1e-6)
    # per mode |Δ ½(s − u)²| ≤ s·|Δu| + ½·Δu², with |Δu| ≤ gap·s₁
    du = r["gap"] * 2.0
    np.testing.assert_allclose(r["loss"], pred.loss.numpy() + r["irreducible"],
                               atol=du * sum(kw["singular_values"]) + du**2)
    example.plot({3: r}, tmp_path / "modes.png")
    assert (tmp_path / "modes.png").stat().st_size > 0
