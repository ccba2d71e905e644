"""MNIST-1D (Greydanus 2020), generated offline by the ``mnist1d`` package's ``make_dataset``."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np
import torch

from occamlab._check import check_int
from occamlab._result import Result


@dataclass(frozen=True, repr=False)
class Signals(Result):
    """A classification data set of 1-D signals in PyTorch layout.

    Fields:
        x_train: (n_train, 1, length) float tensor, standardized with the training mean and std.
        y_train: (n_train,) int64 class labels.
        x_test: (n_test, 1, length).
        y_test: (n_test,).
        n_classes: number of classes.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    def flat(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The inputs as (n, channels·length) matrices, for MLPs: (x_train, x_test)."""
        return self.x_train.flatten(1), self.x_test.flatten(1)

    def one_hot(self, centered: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Regression targets (n, n_classes): one-hot, minus 1/n_classes when ``centered``."""
        eye = torch.eye(self.n_classes, dtype=self.x_train.dtype)
        shift = 1.0 / self.n_classes if centered else 0.0
        return eye[self.y_train] - shift, eye[self.y_test] - shift


def mnist1d(n_train: int = 4000, n_test: int = 1000, *, seed: int = 42,
            dtype: torch.dtype = torch.float64) -> Signals:
    """MNIST-1D signals of length 40 in 10 classes, generated (not downloaded).

    Arguments:
        n_train, n_test: sizes; the generator makes ``n_train + n_test`` samples with ``seed``.
        seed: the generator's seed (the package's default is 42).
        dtype: floating dtype of the signals.

    Returns:
        :class:`Signals` with ``x_train`` of shape (n_train, 1, 40), standardized per data set.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    check_int(n_train, "n_train", ge=1)
    check_int(n_test, "n_test", ge=1)
    args = get_dataset_args()
    args.num_samples = n_train + n_test
    args.train_split = n_train / (n_train + n_test)
    args.seed = seed
    with contextlib.redirect_stdout(io.StringIO()):
        d = make_dataset(args)
    x = np.concatenate([d["x"], d["x_test"]])[:, None, :]
    y = np.concatenate([d["y"], d["y_test"]])
    mean, std = x[:n_train].mean(), x[:n_train].std()
    x = torch.as_tensor((x - mean) / std, dtype=dtype)
    y = torch.as_tensor(y, dtype=torch.int64)
    return Signals(x[:n_train], y[:n_train], x[n_train : n_train + n_test],
                   y[n_train : n_train + n_test], 10)
