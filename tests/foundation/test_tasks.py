"""Bundled and generated data sets."""

import torch

from occamlab.tasks import digits, mnist1d


def test_mnist1d_shapes_standardization_and_determinism():
    d = mnist1d(n_train=300, n_test=100, seed=3)
    assert d.x_train.shape == (300, 1, 40) and d.x_test.shape == (100, 1, 40)
    assert d.x_train.dtype == torch.float64
    # standardized with the training set's own mean and std: exactly 0 and 1 up to rounding
    assert abs(float(d.x_train.mean())) < 1e-12
    assert abs(float(d.x_train.std(unbiased=False)) - 1) < 1e-12
    assert set(d.y_train.tolist()) <= set(range(10))
    assert torch.equal(mnist1d(n_train=300, n_test=100, seed=3).x_train, d.x_train)
    yt, ye = d.one_hot()
    # centered one-hot rows sum to 1 - 10·(1/10) = 0
    assert torch.allclose(yt.sum(1), torch.zeros(300, dtype=yt.dtype), atol=1e-12)
    assert d.flat()[0].shape == (300, 40)


def test_digits_is_the_bundled_set():
    d = digits(test_fraction=0.25, seed=0)
    # sklearn's digits: 1797 images of 8×8 with pixel values 0..16 (scaled here to [0, 1])
    assert len(d.y_train) + len(d.y_test) == 1797
    assert d.x_train.shape[1:] == (1, 8, 8)
    assert float(d.x_train.max()) == 1.0 and float(d.x_train.min()) == 0.0
