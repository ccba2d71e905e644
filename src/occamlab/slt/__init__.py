"""Parameter space I: the local learning coefficient (singular learning theory).

- :func:`llc` estimates λ(w*) of a trained model by vectorized SGLD / SGNHT / RMSprop-SGLD,
  with diagnostics (:class:`LLCResult`).
- :func:`calibrate` sweeps step size, nβ and localization and recommends settings.
- :func:`stages` cuts a training run into developmental stages at the plateaus of its LLC curve
  (Hoogland et al.), each of type A (LLC rises) or B (LLC falls).
- :mod:`occamlab.slt.theory` gives known learning coefficients to validate against.
"""

from occamlab.slt import theory
from occamlab.slt._calibrate import CalibrationResult, calibrate
from occamlab.slt._llc import LLCResult, LLCWarning, default_nbeta, llc
from occamlab.slt._samplers import SAMPLERS
from occamlab.slt._stages import Stages, stages

__all__ = ["theory", "llc", "LLCResult", "LLCWarning", "default_nbeta", "calibrate",
           "CalibrationResult", "SAMPLERS", "stages", "Stages"]
