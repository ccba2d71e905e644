"""Theory against experiment: predicted and measured learning curves side by side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from occamlab._plot import readable_log_axes
from occamlab._result import Result
from occamlab.eigenlearning._measure import Measurement
from occamlab.eigenlearning._theory import Prediction, predict


@dataclass(frozen=True, repr=False)
class Comparison(Result):
    """Predicted and measured test/train MSE at the measured sample sizes.

    Fields:
        n: (B,) sample sizes.
        predicted_test, predicted_train: (B,) theory (after the finite-pool correction when the
            measurement is on a pool).
        measured_test, measured_test_se, measured_train, measured_train_se: (B,) experiment.
        relative_error: (B,) (predicted − measured)/measured test MSE.
        pool_corrected: whether the finite-pool correction was applied.
    """

    n: torch.Tensor
    predicted_test: torch.Tensor
    predicted_train: torch.Tensor
    measured_test: torch.Tensor
    measured_test_se: torch.Tensor
    measured_train: torch.Tensor
    measured_train_se: torch.Tensor
    relative_error: torch.Tensor
    pool_corrected: bool

    def within(self, r: float = 0.06, r_small: float = 0.12, small: float = 0.05,
               n_se: float = 3.0) -> torch.Tensor:
        """Agreement per n: ``|E_theory − E_measured| ≤ n_se·SE + r·E_measured`` with r raised
        to ``r_small`` when E_measured < ``small`` (the defaults are the agreement that Simon et
        al. 2023, arXiv 2110.03922, report between theory and experiment)."""
        rr = torch.where(self.measured_test >= small, torch.full_like(self.measured_test, r),
                         torch.full_like(self.measured_test, r_small))
        se = torch.nan_to_num(self.measured_test_se, nan=0.0)
        return (self.predicted_test - self.measured_test).abs() <= n_se * se + rr * \
            self.measured_test

    def table(self) -> list[dict[str, Any]]:
        """One row per n: predicted and measured test MSE (± SE), relative error, train MSE."""
        return [
            {"n": int(self.n[i]), "predicted test MSE": float(self.predicted_test[i]),
             "measured test MSE": float(self.measured_test[i]),
             "± SE": float(self.measured_test_se[i]),
             "relative error": float(self.relative_error[i]),
             "predicted train MSE": float(self.predicted_train[i]),
             "measured train MSE": float(self.measured_train[i])}
            for i in range(len(self.n))
        ]

    def plot(self, ax: Any = None, *, label: str = "", train: bool = False) -> Any:
        """Log-log MSE against n: the prediction as a line, the measurement with error bars."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.8))
        prefix = f"{label} " if label else ""
        n = self.n.cpu().numpy()
        line, = ax.loglog(n, self.predicted_test.cpu().numpy(), "-",
                          label=f"{prefix}theory")
        ax.errorbar(n, self.measured_test.cpu().numpy(),
                    yerr=self.measured_test_se.cpu().numpy(), fmt="o", ms=4, capsize=2,
                    color=line.get_color(), label=f"{prefix}KRR")
        if train:
            ax.loglog(n, self.predicted_train.cpu().numpy(), "--", color=line.get_color())
            ax.errorbar(n, self.measured_train.cpu().numpy(),
                        yerr=self.measured_train_se.cpu().numpy(), fmt="s", ms=3,
                        color=line.get_color(), mfc="none")
        ax.set_xlabel("training samples n")
        ax.set_ylabel("test MSE")
        ax.legend(fontsize=8)
        return readable_log_axes(ax)


def compare(theory: Any, measurement: Measurement, *, target_power: Any = None,
            pool_correction: bool = True, **predict_kwargs: Any) -> Comparison:
    """Put a prediction and a measurement in one table and one plot.

    Arguments:
        theory: a :class:`Prediction` made at ``measurement.n``, or a spectrum
            (:class:`~occamlab.spectra.Spectrum` or eigenvalues) to predict from with the
            measurement's ridge and noise_var.
        measurement: from :func:`~occamlab.eigenlearning._measure`.
        target_power: target power per level, when ``theory`` is a spectrum without a target.
        pool_correction: for a pool measurement, convert the theory's pool error E into the
            held-out error ``(M·E − n·E_train)/(M − n)`` (the finite-pool
            correction for real data of Simon et al. 2023, arXiv 2110.03922).
        **predict_kwargs: passed to :func:`predict` (e.g. ``multiplicities``).

    Returns:
        :class:`Comparison`.
    """
    if not isinstance(measurement, Measurement):
        raise TypeError(f"measurement must be a Measurement, got {type(measurement).__name__}")
    n = measurement.n.to(torch.float64)
    if isinstance(theory, Prediction):
        pred = theory
        if pred.n.reshape(-1).shape != n.shape or not torch.equal(pred.n.reshape(-1).cpu(),
                                                                  n.cpu()):
            raise ValueError(f"the prediction's n {pred.n.tolist()} differs from the "
                             f"measurement's {n.tolist()}")
    else:
        pred = predict(theory, n, target_power=target_power, ridge=measurement.ridge,
                       noise_var=measurement.noise_var, **predict_kwargs)
    test = pred.test_mse.reshape(-1).cpu()
    train = pred.train_mse.reshape(-1).cpu()
    corrected = pool_correction and measurement.pool_size is not None
    if corrected:
        M = float(measurement.pool_size)
        test = (M * test - n * train) / (M - n)
    rel = (test - measurement.test_mse) / measurement.test_mse
    return Comparison(n=measurement.n, predicted_test=test, predicted_train=train,
                      measured_test=measurement.test_mse, measured_test_se=measurement.test_se,
                      measured_train=measurement.train_mse,
                      measured_train_se=measurement.train_se, relative_error=rel,
                      pool_corrected=corrected)
