"""occamlab: measure the inductive bias of neural networks.

Three views, one room each (the science is in the repository's ``docs/``):

- kernel space: :mod:`occamlab.kernels` (infinite-width and empirical NTK/NNGP),
  :mod:`occamlab.spectra` (eigensystems, alignment), :mod:`occamlab.eigenlearning` (predicted and
  measured learning curves), :mod:`occamlab.design` (kernel → activation → shallow network);
- parameter space: :mod:`occamlab.slt` (local learning coefficient), :mod:`occamlab.dynamics`
  (exact learning dynamics of linear networks), :mod:`occamlab.landscape` (Hessian spectra, loss
  surfaces, mode connectivity, critical points);
- features: :mod:`occamlab.features` (AGOP, neural feature ansatz, RFM);

plus :mod:`occamlab.tasks` (data), :mod:`occamlab.report` (the default study) and
:mod:`occamlab.runs` (scale-out on Dask: sweeps, tiled kernels, LLC trajectories).
"""

from occamlab import (
    design,
    dynamics,
    eigenlearning,
    features,
    kernels,
    landscape,
    report,
    runs,
    slt,
    spectra,
    tasks,
)

__version__ = "0.1.0"
__all__ = ["design", "dynamics", "eigenlearning", "features", "kernels", "landscape", "report",
           "runs", "slt", "spectra", "tasks", "__version__"]
