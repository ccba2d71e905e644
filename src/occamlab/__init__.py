"""occamlab: measure the inductive bias of neural networks.

Three views, one room each (see ``DESIGN.md``):

- kernel space: :mod:`occamlab.kernels` (infinite-width and empirical NTK/NNGP),
  :mod:`occamlab.spectra` (eigensystems, alignment), :mod:`occamlab.eigenlearning` (predicted and
  measured learning curves), :mod:`occamlab.design` (kernel → activation → shallow network);
- parameter space: :mod:`occamlab.slt` (local learning coefficient);
- features: :mod:`occamlab.features` (AGOP, neural feature ansatz, RFM);

plus :mod:`occamlab.tasks` (data), :mod:`occamlab.report` (the default study) and
:mod:`occamlab.runs` (scale-out on Dask: sweeps, tiled kernels, LLC trajectories).
"""

from occamlab import design, eigenlearning, features, kernels, report, runs, slt, spectra, tasks

__version__ = "0.1.0"
__all__ = ["design", "eigenlearning", "features", "kernels", "report", "runs", "slt", "spectra",
           "tasks", "__version__"]
