"""Shallow kernels as power series, non-negative fits, engineered activations."""

import math

import pytest
import torch
from _design_closed_forms import deep_erf_ntk, deep_relu_ntk  # noqa: F401

from occamlab import design
from occamlab import kernels as K

C = torch.linspace(-1, 1, 201, dtype=torch.float64)



def test_shallow_kernel_of_square_activation():
    # φ(z) = z² = 1 + √2·h₂: NNGP = E[u²v²] = 1 + 2c²; NTK adds c·E[2u·2v] = 4c².
    a = torch.tensor([1.0, 0.0, math.sqrt(2)], dtype=torch.float64)
    torch.testing.assert_close(design.shallow_kernel(a, "nngp")(C), 1 + 2 * C**2,
                               rtol=0, atol=1e-14)  # rounding only
    torch.testing.assert_close(design.shallow_kernel(a, "ntk")(C), 1 + 6 * C**2,
                               rtol=0, atol=1e-14)


POLYNOMIALS = {
    "c^3": (lambda c: c**3, 3),
    "c^4+c": (lambda c: c**4 + c, 4),
    "sinh_9": (lambda c: sum(c**k / math.factorial(k) for k in (1, 3, 5, 7, 9)), 9),
    "cosh_8": (lambda c: sum(c**k / math.factorial(k) for k in (0, 2, 4, 6, 8)), 8),
}


@pytest.mark.parametrize("name", sorted(POLYNOMIALS))
@pytest.mark.parametrize("kind", ["ntk", "nngp"])
def test_polynomial_targets_realized_exactly(name, kind):
    target, degree = POLYNOMIALS[name]
    act = design.activation_for(target, kind=kind, degree=degree)
    realized = design.shallow_kernel(act.coefficients, kind)(C)
    # The requirement: a polynomial with non-negative coefficients is realized exactly,
    # to 1e-12 (rounding of NNLS on an 801-point grid).
    torch.testing.assert_close(realized, target(C), rtol=0, atol=1e-12)
    # And the activation really has those coefficients: re-expanding it by quadrature gives them
    # back (exact for polynomials of degree ≤ 9 with 256 nodes).
    back = design.hermite_coefficients(act, degree)
    torch.testing.assert_close(back, act.coefficients, rtol=0, atol=1e-12)


def test_signs_change_the_function_not_the_kernel():
    target = POLYNOMIALS["c^4+c"][0]
    plus = design.activation_for(target, degree=4)
    mixed = design.activation_for(target, degree=4, signs=[1, -1, 1, -1, 1])
    torch.testing.assert_close(mixed.coefficients.abs(), plus.coefficients, rtol=0, atol=0)
    torch.testing.assert_close(design.shallow_kernel(mixed.coefficients)(C), target(C),
                               rtol=0, atol=1e-12)
    z = torch.tensor([0.7], dtype=torch.float64)
    assert float((plus(z) - mixed(z)).abs()) > 0.1  # h₁(0.7) and h₃(0.7) terms flip sign


@pytest.mark.parametrize("target,bound", [(deep_relu_ntk, 0.0444), (deep_erf_ntk, 0.0311)])
def test_deep_ntk_matched_by_degree5_activation(target, bound):
    # 4 hidden layers, w_std = √2, b_std = 0.1. The issue hoped for 3% of K(1); the minimax
    # non-negative degree-5 series is the best any degree-5 activation can do, and the linear
    # program finds it: 4.38% (ReLU) and 3.10% (erf) on this grid. The bound is that optimum
    # rounded up at the 3rd digit; least squares (the paper's NNLS) reaches 11% and 7.5%.
    act = design.activation_for(target, degree=5, norm="max", tol=0.05)
    realized = design.shallow_kernel(act.coefficients)(C)
    k1 = float(target(torch.tensor(1.0, dtype=torch.float64)))
    assert float((realized - target(C)).abs().max()) / k1 <= bound
    assert act.fit.relative_error <= bound
    # The bound is tight (the LP optimum), so a fit that got worse would fail here.
    assert act.fit.relative_error > bound - 0.001


def test_deep_ntk_within_3_percent_at_higher_degree():
    # What "within 3% of K(1)" takes for the 4-hidden-layer erf and ReLU NTKs: degree 6 and 10
    # minimax series (measured 2.90% and 2.85%; degree 5 and 9 give 3.10% and 3.05%).
    for target, degree in ((deep_erf_ntk, 6), (deep_relu_ntk, 10)):
        fit = design.power_series(target, degree, norm="max")
        assert fit.relative_error < 0.03
        assert bool((fit.coefficients >= 0).all())


def test_nnls_fit_is_the_least_squares_optimum():
    # Independent check of the fit: KKT conditions of NNLS — the residual's gradient is zero on
    # active coefficients and ≥ 0 (pushing a zero coefficient up would not help) elsewhere.
    fit = design.power_series(deep_relu_ntk, 5)
    A = fit.c[:, None] ** torch.arange(6, dtype=torch.float64)
    grad = A.T @ (A @ fit.coefficients - fit.target)
    scale = float(A.abs().sum() * fit.scale)  # magnitude of the terms summed in grad
    active = fit.coefficients > 0
    assert float(grad[active].abs().max()) < 1e-10 * scale  # rounding of the sums
    assert float(grad[~active].min()) > -1e-10 * scale


def test_unrealizable_target_says_so_and_reports_closest_fit():
    target = lambda c: 1 - 0.5 * c  # noqa: E731  negative coefficient on c
    with pytest.raises(design.UnrealizableKernelError, match=r"negative coefficients \(c\^1: -0.5"
                       ) as info:
        design.activation_for(target, degree=5, norm="l2")
    assert isinstance(info.value, ValueError)
    assert "closest realizable series" in str(info.value)
    # Closest non-negative series in least squares: odd powers correlate negatively with −0.5c
    # on the symmetric grid, so they are 0; the even part 1 is matched by b₀ = 1.
    ref = torch.tensor([1.0, 0, 0, 0, 0, 0], dtype=torch.float64)
    torch.testing.assert_close(info.value.fit.coefficients, ref, rtol=0, atol=1e-9)
    assert info.value.fit.max_error == pytest.approx(0.5, abs=1e-9)  # |−0.5c| at c = ±1


def test_too_low_degree_says_raise_degree():
    with pytest.raises(design.UnrealizableKernelError, match="raise degree"):
        design.activation_for(lambda c: torch.exp(4 * c), degree=2)


def test_bad_arguments_named():
    with pytest.raises(ValueError, match=r"degree \(the highest power of the series\) "
                                         r"must be an integer ≥ 0, got -"):
        design.power_series(lambda c: c, -1)
    with pytest.raises(ValueError, match=r"degree \(the highest power of the series\) "
                                         r"must be an integer ≥ 0, got -"):
        design.activation_for(lambda c: c, degree=-2)
    with pytest.raises(ValueError, match="kind must be 'ntk' or 'nngp'"):
        design.activation_for(lambda c: c, kind="gp")
    with pytest.raises(ValueError, match="signs must be 3 values each \\+1 or -1"):
        design.activation_for(lambda c: c, degree=2, signs=[1, 1])
    with pytest.raises(ValueError, match="norm must be 'l2'"):
        design.power_series(lambda c: c, 2, norm="l1")
    with pytest.raises(ValueError, match="target kernel is not finite at c = -1"):
        design.power_series(lambda c: 1 / (1 + c), 3)
    with pytest.raises(ValueError, match="same shape"):
        design.power_series(lambda c: torch.ones(3), 3)
    with pytest.raises(TypeError, match="target must be a callable of the cosine"):
        design.power_series(3.0, 3)


def test_auto_norm_is_least_squares_then_minimax():
    deep = K.mlp(4, "relu", w_std=math.sqrt(2), b_std=0.1)
    act = design.activation_for(deep, degree=5)
    minimax = design.power_series(deep, 5, norm="max")
    # the least-squares fit misses tol = 5% (11.2% of K(1)), so the default falls back to the
    # minimax fit, whose 4.38% is the smallest uniform error of any degree-5 non-negative series
    torch.testing.assert_close(act.fit.coefficients, minimax.coefficients, rtol=0, atol=0)
    assert act.fit.relative_error == pytest.approx(0.0438, abs=5e-4)
    with pytest.raises(ValueError, match="norm must be 'auto', 'l2' or 'max', got 'l1'"):
        design.activation_for(deep, norm="l1")
