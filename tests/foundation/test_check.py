"""The shared validation vocabulary: TypeError for a wrong type, ValueError for a wrong value."""

import math

import numpy as np
import pytest
import torch

from occamlab._check import check_bool, check_choice, check_instance, check_int, check_real


def test_check_int_types_and_bounds():
    assert check_int(np.int64(3), "n", ge=1) == 3
    with pytest.raises(TypeError, match=r"n must be an integer ≥ 1, got 2\.5 \(float\)"):
        check_int(2.5, "n", ge=1)
    with pytest.raises(TypeError, match="got True"):
        check_int(True, "n")
    with pytest.raises(ValueError, match=r"^width must be an integer ≥ 1, got 0$"):
        check_int(0, "width", ge=1)
    with pytest.raises(ValueError, match=r"k must be an integer ≥ 1 and < 5, got 5"):
        check_int(5, "k", ge=1, lt=5)


def test_check_real_rejects_nan_inf_and_bounds():
    assert check_real(torch.tensor(0.5), "t", ge=0) == 0.5
    assert check_real(math.inf, "t", ge=0, finite=False) == math.inf
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="t must be a finite number ≥ 0"):
            check_real(bad, "t", ge=0)
    with pytest.raises(ValueError, match=r"q must be a finite number > 0, got 0"):
        check_real(0, "q", gt=0)
    with pytest.raises(TypeError, match=r"q must be a finite number > 0, got '1' \(str\)"):
        check_real("1", "q", gt=0)
    with pytest.raises(ValueError, match="must be a number"):
        check_real(math.nan, "t", finite=False)


def test_check_choice_bool_instance():
    assert check_choice("ntk", "get", ("ntk", "nngp")) == "ntk"
    with pytest.raises(ValueError, match=r"get must be one of 'ntk', 'nngp', got 'ntkk'"):
        check_choice("ntkk", "get", ("ntk", "nngp"))
    with pytest.raises(TypeError, match=r"get must be one of .* \(list\)"):
        check_choice(["ntk"], "get", ("ntk", "nngp"))
    assert check_bool(np.bool_(True), "flag") is True
    with pytest.raises(TypeError, match="flag must be True or False, got 1"):
        check_bool(1, "flag")
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        check_instance(3, "model", torch.nn.Module, "an nn.Module")
