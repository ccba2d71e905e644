"""Hermite machinery: normalized polynomials, quadrature, coefficients of activations."""

import math

import pytest
import torch
from _design_closed_forms import shallow_erf_ntk  # noqa: F401

from occamlab import design
from occamlab import kernels as K


def test_hermite_matches_explicit_polynomials():
    z = torch.linspace(-3, 3, 13, dtype=torch.float64)
    h = design.hermite(z, 4)
    explicit = torch.stack([torch.ones_like(z), z, (z**2 - 1) / math.sqrt(2),
                            (z**3 - 3 * z) / math.sqrt(6), (z**4 - 6 * z**2 + 3) / math.sqrt(24)],
                           dim=-1)
    # Same polynomials by two routes: only rounding (values ≤ 81/√24 ≈ 17) separates them.
    torch.testing.assert_close(h, explicit, rtol=0, atol=1e-13)


def test_hermite_orthonormal_under_gaussian():
    z, w = design.gauss_hermite(40)
    h = design.hermite(z, 20)
    gram = (h * w[:, None]).T @ h
    # 40 nodes integrate degree ≤ 79 exactly, so E[hⱼhₖ] = δⱼₖ up to rounding.
    torch.testing.assert_close(gram, torch.eye(21, dtype=torch.float64), rtol=0, atol=1e-11)


def test_coefficients_exact_for_polynomials():
    # z³ = He₃ + 3·He₁ = √6·h₃ + 3·h₁; at variance q, φ(√q z) = q^{3/2} z³.
    for q in (1.0, 2.0, 0.5):
        a = design.hermite_coefficients(lambda z: z**3, 5, q=q)
        ref = q**1.5 * torch.tensor([0, 3, 0, math.sqrt(6), 0, 0], dtype=torch.float64)
        torch.testing.assert_close(a, ref, rtol=0, atol=1e-12)  # exact quadrature: rounding


def test_relu_coefficients_closed_form():
    # E[relu(z)Heₖ(z)] = He_{k−2}(0)/√(2π) for k ≥ 2 (integrate by parts twice); a₀ = 1/√(2π),
    # a₁ = 1/2.
    def he0(m):
        return 0.0 if m % 2 else (-1) ** (m // 2) * math.prod(range(m - 1, 0, -2))

    ref = [1 / math.sqrt(2 * math.pi), 0.5] + [
        he0(k - 2) / math.sqrt(2 * math.pi * math.factorial(k)) for k in range(2, 13)]
    a = design.hermite_coefficients(torch.relu, 12)
    # The kink at 0 makes Gauss–Hermite converge like 1/n: measured 6.4e-4 at 256 nodes.
    torch.testing.assert_close(a, torch.tensor(ref, dtype=torch.float64), rtol=0, atol=1e-3)


def test_erf_shallow_kernel_matches_arcsine_closed_form():
    a = design.hermite_coefficients(torch.erf, 80)
    c = torch.linspace(-1, 1, 41, dtype=torch.float64)
    for kind in ("ntk", "nngp"):
        k = design.shallow_kernel(a, kind)(c)
        ref = shallow_erf_ntk(c) if kind == "ntk" else 2 / math.pi * torch.asin(2 * c / 3)
        # erf is entire, so quadrature is exact to rounding; the series tail at |c| = 1 after
        # degree 80 is ~ (2/3)^80 ≈ 1e-14.
        torch.testing.assert_close(k, ref, rtol=0, atol=1e-10)
    # Dense → Erf → Dense (Williams 1997; Lee et al. 2019): identical unit inputs,
    # NTK = (2/π)asin(2/3) + 4/(π√5).
    ntk1 = float(design.shallow_kernel(a)(torch.tensor(1.0, dtype=torch.float64)))
    assert ntk1 == pytest.approx(2 / math.pi * math.asin(2 / 3) + 4 / (math.pi * math.sqrt(5)),
                                 abs=1e-10)


def test_relu_shallow_ntk_reference_values():
    # One hidden ReLU layer, w_std = √2 (q = 2), readout w_std = 1: NTK at c = −0.5, 0, 0.5 is
    # −0.057669, 0.318310, 0.942331 (the closed form, to the 6 digits quoted). The closed-form
    # coefficients leave only the series tail beyond degree 60 at |c| = 0.5 (< 1e-15).
    a = design.hermite_coefficients(torch.relu, 60, q=2.0)
    k = design.shallow_kernel(a)(torch.tensor([-0.5, 0.0, 0.5], dtype=torch.float64))
    ref = torch.tensor([-0.057669, 0.318310, 0.942331], dtype=torch.float64)
    torch.testing.assert_close(k, ref, rtol=0, atol=6e-7)  # the references' rounding


def test_parseval_relu():
    a = design.hermite_coefficients(torch.relu, 200)
    # Σ aₖ² = E[relu(z)²] = 1/2. What is missing is the tail beyond 200: aₖ² for even k = 2m is
    # h_{k−2}(0)²/(2π·k(k−1)) with h_{2m}(0)² ≈ 1/√(πm), so the tail ≈ (1/(8π√π))·(2/3)·100^−1.5
    # = 1.497e-5 (an asymptotic estimate, good to ~1% at m = 100).
    assert 0.5 - float((a**2).sum()) == pytest.approx(1.497e-5, rel=0.02)


def _quad_coefficients(f, degree, q, kinks):
    """aₖ by SciPy's adaptive QUADPACK integration split at the kinks (tolerance 1e-13): an
    oracle independent of the library's closed forms and panels."""
    from scipy.integrate import quad
    from scipy.special import eval_hermitenorm

    rq = math.sqrt(q)
    edges = [-math.inf, *[t / rq for t in kinks], math.inf]
    out = []
    for k in range(degree + 1):
        def g(z, k=k):
            return (f(rq * z) * eval_hermitenorm(k, z) / math.sqrt(math.factorial(k))
                    * math.exp(-z * z / 2) / math.sqrt(2 * math.pi))
        out.append(sum(quad(g, lo, hi, epsabs=1e-13, epsrel=1e-13, limit=200)[0]
                       for lo, hi in zip(edges[:-1], edges[1:])))
    return out


@pytest.mark.parametrize("name", ["relu", "abs", "leaky", "sign", "erf"])
def test_closed_forms_exact_for_kinked_activations(name):
    fn, ref_fn = {
        "relu": (torch.relu, lambda u: max(u, 0.0)),
        "abs": (K.Abs(), abs),
        "leaky": (torch.nn.LeakyReLU(0.2), lambda u: u if u > 0 else 0.2 * u),
        "sign": (torch.sign, lambda u: math.copysign(1.0, u)),
        "erf": (torch.erf, math.erf),
    }[name]
    a = design.hermite_coefficients(fn, 10, q=2.0)
    ref = torch.tensor(_quad_coefficients(ref_fn, 10, 2.0, [0.0]), dtype=torch.float64)
    torch.testing.assert_close(a, ref, rtol=0, atol=1e-12)  # the promise is 1e-10


def test_declared_kinks_make_any_callable_exact():
    def fn(u):
        return torch.relu(u - 0.5) ** 2 + torch.tanh(u)

    a = design.hermite_coefficients(fn, 10, q=1.5, kinks=(0.5,))
    ref = torch.tensor(_quad_coefficients(lambda u: max(u - 0.5, 0) ** 2 + math.tanh(u), 10,
                                          1.5, [0.5]), dtype=torch.float64)
    torch.testing.assert_close(a, ref, rtol=0, atol=1e-12)
    # without the kink declared, Gauss–Hermite is off by far more than that at a kink
    plain = design.hermite_coefficients(fn, 10, q=1.5)
    assert float((plain - ref).abs().max()) > 1e-6


@pytest.mark.parametrize("degree", [-1, -5])
def test_negative_degree_rejected(degree):
    with pytest.raises(ValueError, match=r"degree \(the highest power of the series\) "
                                         r"must be an integer ≥ 0, got -"):
        design.hermite_coefficients(torch.tanh, degree)


def test_degree_wrong_type_rejected():
    with pytest.raises(TypeError, match=r"degree \(the highest power of the series\) must be an "
                                        r"integer ≥ 0, got 2.5"):
        design.hermite_coefficients(torch.tanh, 2.5)


def test_nan_on_nodes_rejected():
    with pytest.raises(ValueError, match="NaN .*quadrature nodes"):
        design.hermite_coefficients(torch.log, 3)  # log(z) is NaN for every negative node


def test_inf_on_nodes_rejected():
    with pytest.raises(ValueError, match="Inf values on the quadrature nodes"):
        design.hermite_coefficients(lambda z: torch.exp(z**2), 3)  # overflows at |z| > 26.6


def test_bad_q_and_fn_rejected():
    with pytest.raises(ValueError, match="q .*must be a finite number > 0"):
        design.hermite_coefficients(torch.tanh, 3, q=0.0)
    with pytest.raises(TypeError, match="fn must be a callable"):
        design.hermite_coefficients(3.0, 3)
    with pytest.raises(ValueError, match=r"n_nodes must be an integer ≥ 1 and ≤ 300, got 500"):
        design.hermite_coefficients(torch.tanh, 3, n_nodes=500)
