"""Reverse engineering the NTK: from a target kernel to an activation to a shallow network.

Simon, Anand & DeWeese, "Reverse Engineering the Neural Tangent Kernel" (ICML 2022, arXiv
2106.03186). With φ = Σ aₖhₖ (normalized Hermite polynomials), a one-hidden-layer
network has NNGP(c) = Σ aₖ²cᵏ and NTK(c) = Σ (k+1)aₖ²cᵏ, so any kernel with a non-negative power
series is realized by a shallow network with an engineered activation.
"""

from occamlab.design._activation import (
    HermiteActivation,
    ShallowNetwork,
    activation_for,
    shallow_architecture,
    shallow_network,
)
from occamlab.design._fit import FAMILIES, ActivationFit, fit_activation, quadrature_kernel
from occamlab.design._hermite import gauss_hermite, hermite, hermite_coefficients
from occamlab.design._series import (
    KernelSeries,
    PowerSeriesFit,
    UnrealizableKernelError,
    power_series,
    shallow_kernel,
)

__all__ = [
    "hermite",
    "gauss_hermite",
    "hermite_coefficients",
    "shallow_kernel",
    "power_series",
    "activation_for",
    "shallow_network",
    "shallow_architecture",
    "fit_activation",
    "quadrature_kernel",
    "HermiteActivation",
    "ShallowNetwork",
    "KernelSeries",
    "PowerSeriesFit",
    "ActivationFit",
    "UnrealizableKernelError",
    "FAMILIES",
]
