"""The fully connected shortcut :func:`mlp`."""

from __future__ import annotations

from occamlab._check import check_int
from occamlab.kernels._activations import Activation
from occamlab.kernels._activations import activation as _get_activation
from occamlab.kernels._core import Serial, serial
from occamlab.kernels._layers import Dense

__all__ = ["mlp"]


def mlp(depth: int, activation: str | Activation = "relu", w_std: float = 1.0,
        b_std: float = 0.0, *, readout_w_std: float | None = None,
        readout_b_std: float | None = None) -> Serial:
    """``depth`` hidden layers of Dense + activation, then a Dense readout.

    Arguments:
        depth: number of hidden layers (≥ 1).
        activation: a name ("relu", "erf", ... see :data:`ACTIVATIONS`) or an
            :class:`Activation` instance (shared by every hidden layer).
        w_std, b_std: weight/bias standard deviations of the hidden Dense layers.
        readout_w_std, readout_b_std: those of the readout (default: ``w_std``, ``b_std``).

    Returns:
        ``serial(Dense, act, ..., Dense, act, Dense)``.
    """
    depth = check_int(depth, "depth", ge=1)
    act = _get_activation(activation)
    layers = []
    for _ in range(depth):
        layers += [Dense(w_std, b_std), act]
    layers.append(Dense(w_std if readout_w_std is None else readout_w_std,
                        b_std if readout_b_std is None else readout_b_std))
    return serial(*layers)
