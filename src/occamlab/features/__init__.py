"""Features: what a trained network has learned to look at.

The average gradient outer product (:func:`agop`), the neural feature ansatz (:func:`nfa`), and
recursive feature machines (:class:`RFM`), after Radhakrishnan et al., Science 2024.
"""

from occamlab.features._agop import agop, agops, supported_layers
from occamlab.features._nfa import NFAResult, matrix_power, nfa, pearson
from occamlab.features._rfm import RFM

__all__ = ["RFM", "NFAResult", "agop", "agops", "matrix_power", "nfa", "pearson",
           "supported_layers"]
