"""Parameter space I: the local learning coefficient (singular learning theory).

- :func:`llc` estimates λ(w*) of a trained model by vectorized SGLD / SGNHT / RMSprop-SGLD,
  with diagnostics (:class:`LLCResult`).
- :func:`trajectory` estimates λ̂ at every checkpoint of a training run in one computation.
- :func:`singular_fluctuation` gives ν, the functional variance, WAIC and WBIC.
- :func:`calibrate` sweeps step size, nβ and localization and recommends settings.
- :func:`stages` cuts a training run into developmental stages at the plateaus of its LLC curve
  (Hoogland et al.), each of type A (LLC rises) or B (LLC falls).
- :mod:`occamlab.slt.theory` gives known learning coefficients to validate against.
"""

from occamlab.slt import theory
from occamlab.slt._calibrate import CalibrationResult, calibrate
from occamlab.slt._fluctuation import FluctuationResult, singular_fluctuation
from occamlab.slt._llc import LLCResult, LLCWarning, default_nbeta, llc
from occamlab.slt._samplers import SAMPLERS
from occamlab.slt._stages import Stages, stages
from occamlab.slt._trajectory import Trajectory, trajectory

__all__ = ["theory", "llc", "LLCResult", "LLCWarning", "default_nbeta", "calibrate",
           "CalibrationResult", "SAMPLERS", "trajectory", "Trajectory", "stages", "Stages",
           "singular_fluctuation", "FluctuationResult"]
