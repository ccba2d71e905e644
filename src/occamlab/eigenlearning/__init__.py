"""Eigenlearning: predict the test and train error of kernel regression from a kernel's
eigenspectrum, measure it, and compare (Simon et al. 2023, arXiv 2110.03922)."""

from occamlab.eigenlearning import experiment
from occamlab.eigenlearning._compare import Comparison, compare
from occamlab.eigenlearning._conservation import Conservation, conservation
from occamlab.eigenlearning._measure import Measurement, krr_fit, measure
from occamlab.eigenlearning._theory import (
    Prediction,
    learnability,
    learning_curve,
    predict,
    solve_kappa,
)

__all__ = ["Comparison", "Conservation", "Measurement", "Prediction", "compare", "conservation",
           "experiment", "krr_fit", "learnability", "learning_curve", "measure", "predict",
           "solve_kappa"]
