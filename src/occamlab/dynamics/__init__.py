"""Exact learning dynamics of linear networks.

- :func:`saxe` gives the mode strengths of a deep linear network over training from balanced,
  aligned initialisation (Saxe et al. 2014; any depth), the loss plateaus between the modes and the
  time at which each mode is half learned (:class:`SaxeResult`);
- :func:`plateau_rank` says which of those plateaus a measured loss sits on.
"""

from occamlab.dynamics._saxe import SaxeResult, plateau_rank, saxe

__all__ = ["saxe", "SaxeResult", "plateau_rank"]
