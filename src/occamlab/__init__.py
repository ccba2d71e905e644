"""occamlab: measure the inductive bias of neural networks.

Rooms (imported as submodules): ``kernels``, ``spectra``, ``eigenlearning``, ``design``, ``slt``,
``features``, ``tasks``, ``report``.
"""

from occamlab import tasks

__version__ = "0.1.0"
__all__ = ["tasks", "__version__"]
