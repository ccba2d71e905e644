"""scikit-learn's bundled 8×8 digits (1797 images), as images in PyTorch layout."""

from __future__ import annotations

import numpy as np
import torch

from occamlab.tasks._mnist1d import Signals


def digits(test_fraction: float = 0.25, *, seed: int = 0,
           dtype: torch.dtype = torch.float64) -> Signals:
    """The digits data set, shuffled with ``seed`` and split; images of shape (n, 1, 8, 8).

    Pixels are scaled to [0, 1] (the raw values are 0–16). Use :meth:`Signals.flat` for MLPs.
    """
    from sklearn.datasets import load_digits

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    d = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(d.target))
    x = torch.as_tensor(d.images[order] / 16.0, dtype=dtype)[:, None]
    y = torch.as_tensor(d.target[order], dtype=torch.int64)
    n_test = int(round(test_fraction * len(y)))
    return Signals(x[n_test:], y[n_test:], x[:n_test], y[:n_test], 10)
