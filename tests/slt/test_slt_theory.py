"""Known learning coefficients (occamlab.slt.theory) against closed forms and published values."""

import pytest

from occamlab.slt import theory


def test_regular_is_half_the_dimension():
    assert theory.regular(10) == 5.0  # Watanabe 2009: λ = d/2, exact


def test_normal_crossing_minimum_over_coordinates():
    # K = w1² w2⁴: λ = min(1/2, 1/4) (Watanabe 2009, Thm 2.4); exact rationals.
    assert theory.normal_crossing([1, 2]) == 0.25
    # a prior |w2|¹ raises the second pole to (1+1)/4: λ = min(1/2, 1/2)
    assert theory.normal_crossing([1, 2], h=[0, 1]) == 0.5
    # a coordinate absent from K (k = 0) does not constrain λ
    assert theory.normal_crossing([0, 3]) == pytest.approx(1 / 6, abs=1e-15)  # float rounding


def test_deep_linear_published_example():
    # Aoyagi 2024 (arXiv 2501.12747), Theorem 1: widths [5, 5, 5, 5], r = 2 → λ = 11, exact.
    assert theory.deep_linear([5, 5, 5, 5], 2) == 11.0


def test_deep_linear_equals_reduced_rank_for_two_layers():
    # Aoyagi 2024 states Theorem 1 reduces to Aoyagi & Watanabe 2005 for L = 2: every case.
    for m in range(1, 7):
        for h in range(1, 7):
            for n in range(1, 7):
                for r in range(0, min(m, h, n) + 1):
                    assert theory.deep_linear([m, h, n], r) == theory.reduced_rank(m, h, n, r), (
                        m, h, n, r)


def test_reduced_rank_independent_counts():
    # Full-rank truth r = H with H small: the model is locally the manifold of rank-H matrices,
    # of dimension H(M + N − H), so λ = H(M + N − H)/2 (a regular count; exact).
    for m, h, n in [(5, 2, 4), (6, 3, 6), (4, 1, 7), (8, 3, 5)]:
        assert theory.reduced_rank(m, h, n, h) == h * (m + n - h) / 2
    # H ≥ M + N: the product covers all N×M matrices with redundancy; λ = MN/2 (last case).
    assert theory.reduced_rank(2, 9, 3, 0) == 3.0
    # the odd-parity correction +1/8 (Aoyagi & Watanabe 2005): M=N=H=3, r=0: (2·3·6 − 9)/8 + 1/8
    assert theory.reduced_rank(3, 3, 3, 0) == (36 - 9) / 8 + 1 / 8


def test_one_layer_deep_linear_is_regular():
    assert theory.deep_linear([4, 3], 2) == theory.regular(12)  # a plain matrix: MN/2


@pytest.mark.parametrize("call, match", [
    (lambda: theory.regular(0), "d must be"),
    (lambda: theory.normal_crossing([0, 0]), "at least one positive"),
    (lambda: theory.normal_crossing([1, 2], h=[0]), "same length"),
    (lambda: theory.reduced_rank(3, 2, 4, 3), "rank r must be"),
    (lambda: theory.deep_linear([5], 1), "widths must list"),
    (lambda: theory.deep_linear([5, 4, 3], 4), "rank must be"),
])
def test_theory_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
