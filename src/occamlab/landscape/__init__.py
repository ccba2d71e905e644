"""Parameter space III: the loss landscape — curvature, connectivity and critical points.

- :func:`hessian` and :func:`ggn`: curvature matrices of any ``nn.Module``'s loss as linear
  operators (``H @ v``, ``H @ V``, ``H.dense()``); ``hessian(fn, x0)`` for a scalar function.
- :func:`eigenvalues` (Lanczos), :func:`trace` (Hutch++, Hutchinson) and :func:`density`
  (stochastic Lanczos quadrature) take any operator with ``@`` and ``shape``.
- :func:`filter_normalize` and :func:`surface`: loss surfaces (Li et al. 2018).
- :func:`interpolate`, :func:`connect` and :func:`align`: linear paths and their barriers, trained
  Bézier/polygonal curves (Garipov et al. 2018), weight matching (Ainsworth et al. 2023).
- :func:`critical_point`: Newton-MR and gradient-norm minimization, with the index, nullity and
  the gradient-flat test of Frye et al. 2021.
"""

from occamlab.landscape._align import align
from occamlab.landscape._critical import CriticalPoint, critical_point
from occamlab.landscape._curves import Curve, connect
from occamlab.landscape._hutchpp import Trace, trace
from occamlab.landscape._interpolate import Interpolation, interpolate
from occamlab.landscape._lanczos import Eigen, eigenvalues
from occamlab.landscape._operators import (
    GGNOperator,
    HessianOperator,
    LinearOperator,
    ggn,
    hessian,
)
from occamlab.landscape._slq import Density, density
from occamlab.landscape._surface import Surface, filter_normalize, surface

__all__ = ["hessian", "ggn", "LinearOperator", "HessianOperator", "GGNOperator", "eigenvalues",
           "Eigen", "trace", "Trace", "density", "Density", "filter_normalize", "surface",
           "Surface", "interpolate", "Interpolation", "connect", "Curve", "align",
           "critical_point", "CriticalPoint"]
