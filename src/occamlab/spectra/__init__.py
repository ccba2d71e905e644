"""Eigensystems of kernels: on a pool of data, the hypersphere, the Boolean cube and the circle;
and kernel-target alignment. See Simon et al. 2023 (arXiv 2110.03922)."""

from occamlab.spectra._alignment import alignment
from occamlab.spectra._domains import circle, hypercube, sphere
from occamlab.spectra._pool import from_kernel
from occamlab.spectra._spectrum import Spectrum

__all__ = ["Spectrum", "alignment", "circle", "from_kernel", "hypercube", "sphere"]
