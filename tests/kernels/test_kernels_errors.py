"""Bad input raises early, with a message naming the problem and the valid choice."""

import numpy as np
import pytest
import torch

from occamlab import kernels as K

CNN = K.serial(K.Conv(3), K.Relu(), K.Flatten(), K.Dense())


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_inputs(bad):
    x = np.ones((3, 4))
    x[1, 2] = bad
    with pytest.raises(ValueError, match=r"x1 contains non-finite values.*index \(1, 2\)"):
        K.mlp(1).kernel(x)
    with pytest.raises(ValueError, match="x2 contains non-finite"):
        K.mlp(1).kernel(np.ones((3, 4)), x)


def test_feature_dimension_mismatch():
    with pytest.raises(ValueError, match=r"same feature shape, got \(4,\) and \(5,\)"):
        K.mlp(1).kernel(np.ones((3, 4)), np.ones((2, 5)))


def test_wrong_number_of_dimensions():
    with pytest.raises(ValueError, match=r"x1 must have 2 or 3 or 4 dimensions, got shape \(4,\)"):
        K.mlp(1).kernel(np.ones(4))


def test_conv_without_spatial_axes():
    with pytest.raises(ValueError, match=r"Conv needs inputs with spatial axes, \(N, C, W\)"):
        CNN.kernel(np.ones((3, 4)))
    with pytest.raises(ValueError, match="Conv needs inputs with spatial axes"):
        K.serial(K.Flatten(), K.Dense(), K.Conv(3)).network((2, 5), width=4)


def test_dense_after_conv_without_flatten():
    arch = K.serial(K.Conv(3), K.Relu(), K.Dense())
    with pytest.raises(ValueError, match=r"layer 2 \(Dense.*insert Flatten\(\) or GlobalAvgPool"):
        arch.kernel(np.ones((3, 2, 6)))
    with pytest.raises(ValueError, match="insert Flatten"):
        arch.network((2, 6), width=4)


def test_unknown_activation_name():
    with pytest.raises(ValueError, match=r"unknown activation 'swish'; valid: relu, leakyrelu"):
        K.mlp(2, "swish")
    with pytest.raises(ValueError, match="unknown activation 'softplus'"):
        K.activation("softplus")


@pytest.mark.parametrize("width", [0, -3])
def test_width_below_one(width):
    with pytest.raises(ValueError, match=rf"width must be an integer ≥ 1, got {width}"):
        K.mlp(1).network((4,), width=width)


def test_width_must_be_an_integer():
    with pytest.raises(TypeError, match="width must be an integer"):
        K.mlp(1).network((4,), width=2.5)


def test_other_bad_architectures():
    with pytest.raises(ValueError, match="acts on raw inputs; an activation needs a Dense or Conv"):
        K.serial(K.Relu(), K.Dense()).kernel(np.ones((2, 3)))
    with pytest.raises(ValueError, match="end it with Flatten"):
        K.serial(K.Conv(3), K.Relu()).kernel(np.ones((2, 1, 5)))
    with pytest.raises(ValueError, match="GlobalAvgPool needs inputs with spatial axes"):
        K.serial(K.Dense(), K.GlobalAvgPool()).kernel(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"'valid' Conv with filter \(7,\) does not fit"):
        K.serial(K.Conv(7, "valid"), K.Flatten(), K.Dense()).kernel(np.ones((2, 1, 5)))
    with pytest.raises(ValueError, match=r"padding must be one of \('same', 'circular', 'valid'\)"):
        K.Conv(3, "reflect")
    with pytest.raises(ValueError, match="w_std must be a finite number ≥ 0, got -1"):
        K.Dense(w_std=-1)
    with pytest.raises(TypeError, match="call it: Relu()"):
        K.serial(K.Dense(), K.Relu, K.Dense())
    with pytest.raises(ValueError, match="batch_size must be an integer ≥ 1, got"):
        K.mlp(1).kernel(np.ones((2, 3)), batch_size=0)
    with pytest.raises(ValueError, match="filter_size .* has 2 entries but the input has 1"):
        K.serial(K.Conv((3, 3)), K.Flatten(), K.Dense()).kernel(np.ones((2, 1, 5)))


def test_cosine_kernel_errors():
    with pytest.raises(ValueError, match="Conv needs inputs with spatial axes"):
        K.cosine_kernel(CNN, d=5)
    with pytest.raises(ValueError, match="kind must be 'ntk' or 'nngp'"):
        K.cosine_kernel(K.mlp(1), d=5, kind="both")
    f = K.cosine_kernel(K.mlp(1), d=5)
    with pytest.raises(ValueError, match=r"cosines must lie in \[-1, 1\]"):
        f(torch.tensor([0.5, 1.5]))


def test_spec_errors():
    with pytest.raises(ValueError, match=r"unknown layer 'dens' in spec; valid: dense, conv"):
        K.parse_spec("dens relu dense")
    with pytest.raises(ValueError, match="the spec is empty"):
        K.parse_spec("  ")
    with pytest.raises(ValueError, match="bad arguments for layer 'dense'"):
        K.parse_spec("dense(q=3)")
    with pytest.raises(ValueError, match="padding must be one of"):
        K.parse_spec("conv(3,mirror)")
