"""slt.trajectory, the weight-refined LLC and the singular fluctuation, against closed forms."""

import warnings

import numpy as np
import pytest
import torch
from _slt_helpers import fit_least_squares
from torch import nn

from occamlab import slt
from occamlab.tasks import linear_teacher


def _random_linear(d, seed):
    m = nn.Linear(d, 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        m.weight.copy_(torch.randn(1, d, generator=torch.Generator().manual_seed(seed),
                                   dtype=torch.float64))
    return m


@pytest.fixture(scope="module")
def teacher():
    return linear_teacher(2000, 4, seed=0)


def test_relabel_makes_any_checkpoint_a_regular_minimum(teacher):
    # Relabelled to its own outputs, a linear model at ANY weights is a regular model at its
    # minimum: λ = d/2 = 2 exactly (Watanabe 2009, regular case). Three random checkpoints,
    # far from the least-squares solution; 3 SE + 2.5% (step, minibatch, γ biases as in
    # test_regular_model_fast).
    ms = [_random_linear(4, s) for s in range(3)]
    tr = slt.trajectory(ms, teacher.loss(), teacher.data, steps=[1, 10, 100], relabel=True,
                        draws=60, progress=False)
    assert tr.llc.shape == tr.se.shape == tr.loss.shape == (3,)
    assert np.all(np.abs(tr.llc - 2.0) < 3 * tr.se + 0.025 * 2.0), (tr.llc, tr.se)
    assert all(r.loss_star == 0.0 for r in tr.results)  # own outputs: zero loss at w*
    with torch.no_grad():  # traj.loss is the loss on the original targets
        direct = [float(teacher.loss()(m(teacher.x), teacher.y)) for m in ms]
    assert tr.loss == pytest.approx(direct, rel=1e-12)
    import matplotlib

    matplotlib.use("Agg")
    ax = tr.plot()
    assert ax.get_xscale() == "log"


def test_checkpoint_estimate_does_not_depend_on_the_others(teacher):
    # Streams keyed by (checkpoint, chain): checkpoint 1's draws are the same whether 2 or 3
    # checkpoints run in the batch, and the same given as modules or as (model, state dicts).
    ms = [_random_linear(4, s) for s in range(3)]
    kw = dict(relabel=True, draws=20, thin=3, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", slt.LLCWarning)  # 20 draws: short chains
        a = slt.trajectory(ms[:2], teacher.loss(), teacher.data, **kw)
        b = slt.trajectory(ms, teacher.loss(), teacher.data, **kw)
        c = slt.trajectory((ms[0], [m.state_dict() for m in ms]), teacher.loss(),
                           teacher.data, **kw)
    assert torch.allclose(a.results[1].traces, b.results[1].traces, rtol=1e-12, atol=0)
    assert torch.allclose(b.results[2].traces, c.results[2].traces, rtol=1e-12, atol=0)
    assert a.results[0].mean != a.results[1].mean


def test_checkpoint_batch_size_is_its_own(teacher, monkeypatch):
    # The batch is cut to max(64, ⌈ρ·nβ⌉) by each checkpoint's own minibatch noise ρ. Relabelled
    # to its outputs a checkpoint has ρ ≈ 0 (64 rows); the second checkpoint's targets get
    # noise of SD 3 added (ρ ≈ 9: ⌈nβ⌉ = 264 rows kept). The first checkpoint's draws are the
    # same alone or beside the second.
    from occamlab.slt import _trajectory

    outputs, calls = _trajectory._outputs, []

    def noisy_second(*args):
        calls.append(None)
        out = outputs(*args)
        g = torch.Generator().manual_seed(0)
        return out + 3 * torch.randn(out.shape, generator=g, dtype=out.dtype) * (len(calls) == 2)

    monkeypatch.setattr(_trajectory, "_outputs", noisy_second)
    ms = [_random_linear(4, s) for s in range(2)]
    kw = dict(relabel=True, draws=20, thin=3, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", slt.LLCWarning)  # 20 draws: short chains
        both = slt.trajectory(ms, teacher.loss(), teacher.data, **kw)
        alone = slt.trajectory(ms[:1], teacher.loss(), teacher.data, **kw)
    assert both.results[0].batch_size == 64 < both.results[1].batch_size == 264
    assert torch.equal(both.results[0].traces, alone.results[0].traces)


def test_far_from_minimum_is_named(teacher):
    far = _random_linear(4, 5)
    near = fit_least_squares(teacher)
    with pytest.warns(slt.LLCWarning, match=r"far from a minimum.*step 7 ") as rec:
        slt.trajectory([near, far], teacher.loss(), teacher.data, steps=[3, 7], draws=10,
                       thin=2, progress=False)
    msg = next(str(w.message) for w in rec if "far from" in str(w.message))
    assert "step 3 " not in msg  # the least-squares solution is a minimum


def test_fixed_settings_skip_the_curvature_unless_the_warning_reads_it(teacher, monkeypatch):
    # With ε, γ, thin and draws all given nothing reads the curvature at w*: llc does not
    # measure it, and its draws are bit-identical to a run that does (the trajectory without
    # relabel, which needs tr(H)/P for its far-from-minimum check; the curvature's probes have
    # their own streams, and checkpoint 0 of a trajectory without steps has llc's key 0). The
    # check still names a far checkpoint under these fixed settings.
    from occamlab.slt import _estimate

    calls = []
    real = _estimate.curvature
    monkeypatch.setattr(_estimate, "curvature",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    near, far = fit_least_squares(teacher), _random_linear(4, 5)
    kw = dict(nbeta=100.0, step_size=1e-4, localization=1.0, draws=15, burnin=5, thin=2,
              progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", slt.LLCWarning)  # 15 draws: short chains
        single = slt.llc(near, teacher.loss(), teacher.data, **kw)
        assert calls == []
        tr = slt.trajectory([near], teacher.loss(), teacher.data, **kw)
        assert len(calls) == 1
        slt.trajectory([near], teacher.loss(), teacher.data, relabel=True, **kw)
        assert len(calls) == 1
    assert torch.equal(single.traces, tr.results[0].traces)
    assert torch.equal(single.ref_traces, tr.results[0].ref_traces)
    with pytest.warns(slt.LLCWarning, match=r"far from a minimum.*step 7 "):
        slt.trajectory([near, far], teacher.loss(), teacher.data, steps=[3, 7], **kw)


class _TwoBlocks(nn.Module):
    """y = a·x[:, :3] + b·x[:, 3:]: two parameter blocks of a regular model."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 1, bias=False, dtype=torch.float64)
        self.b = nn.Linear(3, 1, bias=False, dtype=torch.float64)

    def forward(self, x):
        return self.a(x[:, :3]) + self.b(x[:, 3:])


def test_weight_refined_llc_of_a_block():
    # Sampling only block a (3 weights) of a regular model at its minimum: λ(w*; V) = dim V / 2
    # = 1.5 (the refined LLC of a regular subspace, Wang et al. 2024). Tolerance as above.
    t = linear_teacher(2000, 6, seed=1)
    m = _TwoBlocks()
    sol = torch.linalg.lstsq(t.x, t.y).solution[:, 0]
    with torch.no_grad():
        m.a.weight.copy_(sol[:3])
        m.b.weight.copy_(sol[3:])
    r = slt.llc(m, t.loss(), t.data, params=["a"], draws=60, progress=False)
    assert r.params == ("a.weight",)
    assert abs(r.mean - 1.5) < 3 * r.se + 0.025 * 1.5
    with pytest.raises(ValueError, match=r"'c' names no trainable parameter.*'a.weight', "
                                         r"'b.weight'"):
        slt.llc(m, t.loss(), t.data, params=["c"], draws=2, progress=False)


def _nll(out, y):  # Gaussian NLL of a model with σ = 1, per sample
    return 0.5 * ((out - y) ** 2).sum(dim=1) + 0.5 * np.log(2 * np.pi)


@pytest.mark.parametrize("noise", [pytest.param(1.0, marks=pytest.mark.slow), 2.0])
def test_singular_fluctuation_of_a_regular_model(noise):
    # Regular model, posterior at β = 1: ν = ½·tr(I·J⁻¹) (Watanabe 2009, §8.3), computed here
    # independently on the same data as ½·Σᵢ rᵢ²·xᵢᵀ(XᵀX)⁻¹xᵢ (the score covariance I and
    # Hessian J of the model's NLL at the least-squares fit). Well specified (σ = 1): ν ≈ d/2;
    # true noise twice the model's (σ = 2): ν ≈ 4·d/2 while λ stays d/2 (the default run checks
    # the misspecified case, which exercises I ≠ J). Tolerances: 5% against the exact empirical
    # value (SGLD's +1.25%, γ's −1%, and the Monte Carlo error of V_n from 600 draws, relative
    # sd ≈ √(2/(d·600)) ≈ 3%; measured +1.2% at d = 4 with 1,000 draws), and 12% against the
    # asymptotic d/2·σ² (plus the ≈ 4% sampling spread of tr(I_n J_n⁻¹) at this n).
    d = 3
    t = linear_teacher(1500, d, noise=noise, seed=0)
    m = fit_least_squares(t)
    fl = slt.singular_fluctuation(m, _nll, t.data, draws=150, batch_size=1500, progress=False)
    r = (t.y - m(t.x).detach())[:, 0]
    exact = 0.5 * float((r ** 2 * ((t.x @ torch.linalg.inv(t.x.T @ t.x)) * t.x).sum(1)).sum())
    assert abs(fl.nu / exact - 1) < 0.05, (fl.nu, exact)
    assert abs(fl.nu / (noise ** 2 * d / 2) - 1) < 0.12
    assert abs(fl.llc.mean - d / 2) < 3 * fl.llc.se + 0.025 * d / 2  # λ = d/2 either way
    assert fl.functional_variance == pytest.approx(2 * fl.nu)  # β = 1
    assert fl.waic == pytest.approx(fl.training_loss + fl.functional_variance / 1500)
    n = 1500
    assert fl.wbic == pytest.approx(n * fl.llc.loss_star + fl.llc.mean * np.log(n))


def test_singular_fluctuation_bad_nll_shape():
    t = linear_teacher(200, 3, seed=0)
    with pytest.raises(ValueError, match=r"per-sample NLL of shape \(B,\) = \(8,\).*got \(\)"):
        slt.singular_fluctuation(fit_least_squares(t), nn.MSELoss(), t.data, progress=False)


def test_trajectory_bad_input(teacher):
    m = _random_linear(4, 0)
    other = nn.Linear(4, 2, bias=False, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"checkpoints\[1\] has a different architecture"):
        slt.trajectory([m, other], teacher.loss(), teacher.data, progress=False)
    with pytest.raises(ValueError, match=r"state dict 1 does not fit the model: .*wrong shape "
                                         r"\['weight'\]"):
        slt.trajectory((m, [m.state_dict(), other.state_dict()]), teacher.loss(),
                       teacher.data, progress=False)
    with pytest.raises(ValueError, match=r"steps must be strictly increasing, got \[1.0, 1.0"):
        slt.trajectory([m, m, m], teacher.loss(), teacher.data, steps=[1, 1, 2],
                       progress=False)
    with pytest.raises(ValueError, match="'bias' names no trainable parameter"):
        slt.trajectory([m], teacher.loss(), teacher.data, params=["bias"], progress=False)
    x = torch.randn(50, 4, dtype=torch.float64)
    labels = torch.randint(0, 3, (50,))
    clf = nn.Linear(4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="relabel=True needs a regression loss"):
        slt.trajectory([clf], nn.CrossEntropyLoss(), (x, labels), relabel=True,
                       progress=False)
