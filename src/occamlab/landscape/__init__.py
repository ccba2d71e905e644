"""Parameter space III: the loss landscape — curvature, connectivity and critical points.

- :func:`hessian` and :func:`ggn` are curvature matrices of any ``nn.Module``'s loss as linear
  operators (``H @ v``, ``H @ V``, ``H.dense()``); ``hessian(fn, x0)`` for a scalar function.
- :func:`eigenvalues` (Lanczos), :func:`trace` (Hutch++, Hutchinson) and :func:`density`
  (stochastic Lanczos quadrature) take any operator with ``@`` and ``shape``.
"""

from occamlab.landscape._hutchpp import Trace, trace
from occamlab.landscape._lanczos import Eigen, eigenvalues
from occamlab.landscape._operators import (
    GGNOperator,
    HessianOperator,
    LinearOperator,
    ggn,
    hessian,
)
from occamlab.landscape._slq import Density, density

__all__ = ["hessian", "ggn", "LinearOperator", "HessianOperator", "GGNOperator", "eigenvalues",
           "Eigen", "trace", "Trace", "density", "Density"]
