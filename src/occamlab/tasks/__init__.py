"""Synthetic and bundled data sets; nothing is downloaded at run time."""

from occamlab.tasks._digits import digits
from occamlab.tasks._mnist1d import Signals, mnist1d
from occamlab.tasks._synthetic import (
    cube_points,
    gegenbauer,
    harmonic_multiplicity,
    parity,
    sphere_harmonic,
    sphere_points,
)
from occamlab.tasks._teachers import (
    Teacher,
    deep_linear_network,
    deep_linear_teacher,
    gaussian_nll,
    linear_teacher,
    reduced_rank_teacher,
)

__all__ = ["Signals", "digits", "mnist1d", "cube_points", "gegenbauer", "harmonic_multiplicity",
           "parity", "sphere_harmonic", "sphere_points", "Teacher", "deep_linear_network",
           "deep_linear_teacher", "gaussian_nll", "linear_teacher", "reduced_rank_teacher"]
