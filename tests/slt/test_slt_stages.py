"""slt.stages on synthetic LLC curves whose stages are known by construction."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from occamlab import slt

STEPS = np.unique(np.round(np.geomspace(10, 1e5, 40)))  # 40 log-spaced checkpoints
X = np.log1p(STEPS)
CENTERS = np.log([100.0, 1000.0, 1e4])  # transitions at steps 100, 1000, 10⁴
WIDTH = 0.2  # each logistic step is within 5% of its two levels beyond ±3·WIDTH (σ(3) = 0.953)


def _staircase(heights, noise=0.0, seed=0, centers=CENTERS, base=4.0):
    y = base + sum(h / (1 + np.exp(-(X - c) / WIDTH)) for c, h in zip(centers, heights,
                                                                        strict=True))
    return y + noise * np.random.default_rng(seed).standard_normal(len(X))


def _inside_plateaus(boundaries, centers):
    """Interior boundaries each strictly between two transitions, ≥ 3·WIDTH from both."""
    b = np.log1p(np.asarray(boundaries, dtype=float))[1:-1]
    return len(b) == len(centers) - 1 and all(
        centers[i] + 3 * WIDTH < b[i] < centers[i + 1] - 3 * WIDTH for i in range(len(b)))


@pytest.mark.parametrize("seed", range(6))
def test_noisy_staircase_gives_one_type_a_stage_per_step(seed):
    # noise 0.1 on steps of height 2 (5%); measured on 50 seeds: 50 correct
    st = slt.stages(STEPS, _staircase([2.0, 2.0, 2.0], noise=0.1, seed=seed))
    assert st.kinds == ("A", "A", "A")
    assert _inside_plateaus(st.boundaries, CENTERS)
    assert st.boundaries[0] == STEPS[0] and st.boundaries[-1] == STEPS[-1]
    np.testing.assert_allclose(st.changes.numpy(), 2.0, atol=0.35)  # each stage spans one step


@pytest.mark.parametrize("heights", [(3.0, 0.5, 2.0), (0.5, 3.0, 0.5)])
def test_small_steps_beside_large_ones_are_stages_too(heights):
    st = slt.stages(STEPS, _staircase(heights))
    assert st.kinds == ("A", "A", "A")
    assert _inside_plateaus(st.boundaries, CENTERS)


@pytest.mark.parametrize("seed", range(4))
def test_a_drop_is_a_type_b_stage(seed):
    centers = CENTERS[[0, 2]]
    y = _staircase([3.0, -2.0], noise=0.05, seed=seed, centers=centers)
    st = slt.stages(STEPS, y)
    assert st.kinds == ("A", "B")
    assert _inside_plateaus(st.boundaries, centers)


@pytest.mark.parametrize("seed", range(5))
def test_flat_curve_is_one_stage(seed):
    # measured on 100 seeds at noise 0.05 and 0.3: one stage every time
    y = 5.0 + 0.3 * np.random.default_rng(seed).standard_normal(len(X))
    st = slt.stages(STEPS, y)
    assert len(st.kinds) == 1
    np.testing.assert_array_equal(st.boundaries.numpy(), [STEPS[0], STEPS[-1]])
    assert slt.stages(STEPS, np.full(len(X), 5.0)).kinds == ("A",)  # exactly flat: no change


def test_steady_rise_has_no_plateau():
    # a straight line in log(step) has no critical point (measured: 50 of 50 seeds at noise 0.05)
    y = 5.0 + 0.5 * (X - X[0]) + 0.05 * np.random.default_rng(0).standard_normal(len(X))
    assert slt.stages(STEPS, y).kinds == ("A",)


def test_short_plateaus_resolved_with_a_given_bandwidth():
    # 20 checkpoints over 2.8 decades (spacing 0.34 in log-step), abrupt steps 1 apart: each
    # plateau holds 2–3 checkpoints, finer than cross validation smooths (it picks h = 0.61 and
    # finds one stage); a bandwidth below half the spacing resolves them
    steps = np.unique(np.round(np.geomspace(10, 6000, 20)))
    x = np.log1p(steps)
    centers = np.log([24.0, 63.0, 153.0])
    y = 4.5 + sum(2.0 / (1 + np.exp(-(x - c) / 0.02)) for c in centers)
    st = slt.stages(steps, y, bandwidth=0.15)
    assert st.kinds == ("A", "A", "A") and st.bandwidth == 0.15
    b = np.log1p(st.boundaries.numpy())[1:-1]
    assert centers[0] < b[0] < centers[1] and centers[1] < b[1] < centers[2]


def test_deterministic_and_container_independent():
    y = _staircase([2.0, 2.0, 2.0], noise=0.1, seed=3)
    a = slt.stages(STEPS, y)
    b = slt.stages(STEPS.tolist(), torch.tensor(y))
    c = slt.stages(torch.tensor(STEPS, dtype=torch.int64), y.astype(np.float32))
    for other in (b, c):
        assert other.kinds == a.kinds
        np.testing.assert_array_equal(other.boundaries.numpy().astype(float), a.boundaries)
    assert a.to_dict() == slt.stages(STEPS, y).to_dict()


def test_trajectory_object_and_step_zero():
    steps = np.concatenate([[0.0], STEPS])  # the initialisation is a checkpoint too
    y = np.concatenate([[4.0], _staircase([2.0, 2.0, 2.0])])
    loss = np.exp(-np.arange(len(steps)) / 10)
    traj = SimpleNamespace(steps=torch.tensor(steps), llc=torch.tensor(y), loss=torch.tensor(loss))
    st = slt.stages(traj)
    assert st.kinds == ("A", "A", "A") and float(st.boundaries[0]) == 0.0
    assert _inside_plateaus(st.boundaries, CENTERS)
    torch.testing.assert_close(st.loss, torch.tensor(loss))
    direct = slt.stages(steps, y, loss)
    assert direct.kinds == st.kinds and torch.equal(direct.boundaries, st.boundaries)


def test_plot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    st = slt.stages(STEPS, _staircase([2.0, -1.0, 2.0]), loss=np.linspace(1, 0, len(STEPS)))
    ax = st.plot()
    assert ax.get_xscale() == "log"
    assert len(ax.patches) == len(st.kinds)  # one shaded span per stage
    plt.close(ax.figure)


def test_bad_input():
    y = _staircase([2.0, 2.0, 2.0])
    with pytest.raises(ValueError, match="at least 3 checkpoints"):
        slt.stages([1, 2], [1.0, 2.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        slt.stages([1, 3, 2, 4], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        slt.stages([1, 2, 2, 4], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="≥ 0"):
        slt.stages([-1, 2, 3], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="llc contains non-finite"):
        slt.stages(STEPS, np.where(np.arange(len(y)) == 5, np.nan, y))
    with pytest.raises(ValueError, match="loss contains non-finite"):
        slt.stages(STEPS, y, np.full(len(y), np.inf))
    with pytest.raises(ValueError, match="steps has 39 entries but llc has 40"):
        slt.stages(STEPS[:-1], y)
    with pytest.raises(ValueError, match="loss has 3 entries"):
        slt.stages(STEPS, y, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="dimensions"):
        slt.stages(STEPS, np.stack([y, y]))
    with pytest.raises(TypeError, match="lacks .steps, .llc, .loss"):
        slt.stages(object())
    with pytest.raises(ValueError, match="flatness"):
        slt.stages(STEPS, y, flatness=0.0)
    with pytest.raises(ValueError, match="bandwidth"):
        slt.stages(STEPS, y, bandwidth=-1.0)


# λ̂ ± SE of the 5→3→3→5 saddle-to-saddle study with defaults (examples/saddle_to_saddle.py,
# n = 10,000): plateaus of rank 0 (steps 5–59), 1 (83–341), 2 (485–1979) and 3 (2814, 4000).
_SADDLE_STEPS = [5, 7, 10, 14, 20, 29, 41, 59, 83, 119, 169, 240, 341, 485, 689, 979, 1392, 1979,
                 2814, 4000]
_SADDLE_LLC = [3.77, 3.89, 3.81, 4.59, 3.75, 4.08, 4.18, 4.53, 6.44, 6.75, 6.26, 6.34, 6.73, 8.74,
               9.36, 8.49, 8.72, 8.73, 10.50, 10.90]
_SADDLE_SE = [0.08, 0.14, 0.13, 0.29, 0.14, 0.08, 0.55, 0.11, 0.08, 0.11, 0.12, 0.17, 0.23, 0.33,
              0.16, 0.11, 0.19, 0.16, 0.15, 0.28]


def test_short_plateaus_need_the_estimates_own_standard_errors():
    # Five checkpoints per plateau: 6 of the 18 pseudo-residuals straddle a transition, so their
    # median is no longer the noise (0.69, over three times the SEs' root mean square, 0.21) and
    # the significance rule merges the three real stages into one. With the SEs (what a
    # trajectory passes) the three type-A stages come back, each boundary on a plateau.
    from occamlab.slt._stages import _noise

    x = np.log1p(np.array(_SADDLE_STEPS, dtype=float))
    rms = float(np.sqrt(np.mean(np.square(_SADDLE_SE))))
    assert _noise(x, np.array(_SADDLE_LLC)) > 3 * rms
    assert slt.stages(_SADDLE_STEPS, _SADDLE_LLC).kinds == ("A",)
    st = slt.stages(_SADDLE_STEPS, _SADDLE_LLC, se=_SADDLE_SE)
    assert st.kinds == ("A", "A", "A")
    assert st.noise == pytest.approx(rms, rel=1e-12)
    for b in st.boundaries.tolist()[1:-1]:
        assert 83 <= b <= 341 or 485 <= b <= 1979, st.boundaries


@pytest.mark.parametrize("seed", range(6))
def test_few_checkpoints_per_plateau_with_standard_errors(seed):
    # 20 checkpoints from step 5 to 4,000 (4–6 per plateau, as the saddle-to-saddle study),
    # abrupt steps of 2.5, 2, 2, noise 0.15 and its SE given: C_p's bandwidth finds the three
    # stages (measured on 50 seeds: 49, against 31 with leave-one-out, which oversmooths here).
    steps = np.unique(np.geomspace(5, 4000, 20).round())
    x = np.log1p(steps)
    centers = np.log([70.0, 400.0, 2200.0])
    y = 4.0 + sum(h / (1 + np.exp(-(x - c) / 0.1)) for c, h in zip(centers, [2.5, 2.0, 2.0],
                                                                       strict=True))
    y = y + 0.15 * np.random.default_rng(seed).standard_normal(len(x))
    st = slt.stages(steps, y, se=np.full(len(x), 0.15))
    assert st.kinds == ("A", "A", "A")
    b = np.log1p(st.boundaries.numpy())[1:-1]
    assert centers[0] < b[0] < centers[1] and centers[1] < b[1] < centers[2], st.boundaries


def test_bad_standard_errors():
    with pytest.raises(ValueError, match="se has 2 entries but llc has 3"):
        slt.stages([1, 2, 3], [1.0, 2.0, 3.0], se=[0.1, 0.1])
    with pytest.raises(ValueError, match="se must be finite and ≥ 0"):
        slt.stages([1, 2, 3], [1.0, 2.0, 3.0], se=[0.1, -0.1, 0.1])
