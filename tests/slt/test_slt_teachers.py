"""Linear teachers (occamlab.tasks._teachers): rank, noise, shapes, students."""

import pytest
import torch

from occamlab.tasks import (
    deep_linear_network,
    deep_linear_teacher,
    gaussian_nll,
    linear_teacher,
    reduced_rank_teacher,
)


def test_teacher_rank_and_noise():
    t = deep_linear_teacher(20_000, (6, 5, 4, 7), 2, noise=0.5, seed=0)
    assert t.x.shape == (20_000, 6) and t.y.shape == (20_000, 7)
    s = torch.linalg.svdvals(t.matrix)
    assert torch.allclose(s[:2], torch.tensor([2.0, 1.0], dtype=torch.float64))  # by design
    assert float(s[2:].abs().max()) < 1e-12  # rank exactly 2 (float64 round-off)
    resid = t.y - t.x @ t.matrix.T
    # residual variance σ² = 0.25 from 140,000 draws: relative SE √(2/140000) ≈ 0.4%; 2%.
    assert abs(float(resid.var()) / 0.25 - 1) < 0.02


def test_reduced_rank_teacher_is_three_widths():
    t = reduced_rank_teacher(100, 5, 3, 4, 1, seed=1)
    assert t.widths == (5, 3, 4) and t.rank == 1


def test_gaussian_nll_is_half_squared_error_over_variance():
    out = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    y = torch.zeros(2, 2)
    # rows: (1 + 4)/(2σ²) and 0 → mean 5/(4σ²); σ = 2 → 5/16 (exact)
    assert float(gaussian_nll(2.0)(out, y)) == 5 / 16


def test_deep_linear_network_shapes_and_seed():
    a = deep_linear_network([4, 3, 2], seed=5)
    b = deep_linear_network([4, 3, 2], seed=5)
    assert [tuple(p.shape) for p in a.parameters()] == [(3, 4), (2, 3)]
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_teacher_bad_input():
    with pytest.raises(ValueError, match="rank must be an integer in \\[0, min\\(widths\\)\\]"):
        deep_linear_teacher(10, (3, 2, 3), 3)
    with pytest.raises(ValueError, match="noise must be a standard deviation"):
        linear_teacher(10, 2, noise=-1.0)
