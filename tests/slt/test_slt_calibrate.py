"""slt.calibrate: the grid, the recommendation, the heat map."""

import json

import pytest
from _slt_helpers import fit_least_squares

from occamlab import slt
from occamlab.tasks import linear_teacher


def test_calibrate_recommends_flat_nondivergent_region():
    t = linear_teacher(1000, 3, seed=0)
    m = fit_least_squares(t)
    # nβ = n/log n ≈ 145, curvature ≈ nβ: ε·a ≈ 0.15·{0.01, 0.03, 0.1} — equilibrated and
    # accurate; ε = 0.1 (ε·a ≈ 15 > 4) makes SGLD unstable, so every chain diverges there.
    steps = [1e-4, 3e-4, 1e-3, 1e-1]
    c = slt.calibrate(m, t.loss(), t.data, step_sizes=steps, localizations=[1.0, 10.0],
                      chains=2, draws=100, burnin=50, thin=10, progress=False)
    assert len(c.rows) == 8
    assert all(r["divergent"] == 2 for r in c.rows if r["step_size"] == 1e-1)
    assert c.recommended and c.recommended["step_size"] < 1e-1
    best = next(r for r in c.rows if r["step_size"] == c.recommended["step_size"]
                and r["localization"] == c.recommended["localization"])
    # λ = d/2 = 1.5 at the recommendation; 15%: 2 chains × 100 draws (SE ≈ 5%) + small bias
    assert abs(best["llc"] - 1.5) < 0.15 * 1.5
    json.dumps(c.to_dict())
    import matplotlib

    matplotlib.use("Agg")
    ax = c.plot()
    assert ax.get_xlabel() == "step size ε"


def test_calibrate_bad_chains():
    t = linear_teacher(100, 2, seed=0)
    with pytest.raises(ValueError, match="chains must be an integer ≥ 1, got 0"):
        slt.calibrate(fit_least_squares(t), t.loss(), t.data, chains=0, progress=False)
