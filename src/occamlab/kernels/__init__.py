"""Kernel space: infinite-width NNGP/NTK of a layer algebra, and the empirical NTK.

One description gives both worlds::

    from occamlab import kernels as K
    arch = K.serial(K.Conv(3, "circular", w_std=2**.5, b_std=.1), K.Relu(), K.Flatten(),
                    K.Dense(w_std=2**.5, b_std=.1), K.Erf(), K.Dense())
    k = arch.kernel(x1, x2)                      # k.nngp, k.ntk: (n1, n2) float64
    net = arch.network(x1.shape[1:], width=1024, seed=0)   # NTK parameterization

Residual blocks, concatenation, layer norm and local pooling compose the same way::

    arch = K.serial(K.Conv(3, w_std=2**.5), K.residual(K.Relu(), K.Conv(3, w_std=2**.5)),
                    K.Relu(), K.AvgPool(2), K.LayerNorm(), K.Relu(), K.GlobalAvgPool(),
                    K.Dense())
"""

from occamlab.kernels import predict
from occamlab.kernels._activations import (
    ABRelu,
    Abs,
    Activation,
    Elementwise,
    Erf,
    Gelu,
    Identity,
    LeakyRelu,
    Relu,
    Sign,
    Tanh,
    activation,
)
from occamlab.kernels._after_kernel import (
    AfterKernel,
    KernelEvolution,
    after_kernel,
    kernel_evolution,
)
from occamlab.kernels._branching import (
    FanInConcat,
    FanInSum,
    FanOut,
    Parallel,
    parallel,
    residual,
)
from occamlab.kernels._convergence import finite_width_error
from occamlab.kernels._core import KernelResult, Layer, Serial, cosine_kernel, serial
from occamlab.kernels._empirical import empirical_nngp, empirical_ntk
from occamlab.kernels._layers import Conv, Dense, Flatten, GlobalAvgPool
from occamlab.kernels._linearize import Linearized, linearize
from occamlab.kernels._mlp import mlp
from occamlab.kernels._normalization import LayerNorm
from occamlab.kernels._parameterization import CoordinateCheck, coordinate_check, mup_param_groups
from occamlab.kernels._pooling import AvgPool
from occamlab.kernels._spec import parse_spec

__all__ = [
    "ABRelu", "Abs", "Activation", "AfterKernel", "AvgPool", "Conv", "CoordinateCheck", "Dense",
    "Elementwise", "Erf", "FanInConcat", "FanInSum", "FanOut", "Flatten", "Gelu", "GlobalAvgPool",
    "Identity", "KernelEvolution", "KernelResult", "Layer", "LayerNorm", "LeakyRelu", "Linearized",
    "Parallel", "Relu", "Serial", "Sign", "Tanh", "activation", "after_kernel", "coordinate_check",
    "cosine_kernel", "empirical_nngp", "empirical_ntk", "finite_width_error", "kernel_evolution",
    "linearize", "mlp", "mup_param_groups", "parallel", "parse_spec", "predict", "residual",
    "serial",
]
