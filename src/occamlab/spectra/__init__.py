"""Eigensystems of kernels: on a pool of data, the hypersphere, the Boolean cube and the circle;
and kernel-target alignment. See REFERENCES §2 and Simon et al. 2023 (arXiv 2110.03922)."""

from occamlab.spectra._spectrum import Spectrum
from occamlab.spectra.alignment import alignment
from occamlab.spectra.domains import circle, hypercube, sphere
from occamlab.spectra.pool import from_kernel

__all__ = ["Spectrum", "alignment", "circle", "from_kernel", "hypercube", "sphere"]
