"""The batched forward/backward of Linear stacks against autograd of the model, chain by chain."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from occamlab._torch import call, flatten, trainable_params
from occamlab.slt._samplers import make_loss, run_chains
from occamlab.slt._stacked import Stack
from occamlab.tasks import gaussian_nll

DT = torch.float64


def _mlp(seed=0, *, bias=True):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 5, bias=bias, dtype=DT), nn.Tanh(),
                         nn.Sequential(nn.Linear(5, 4, bias=bias, dtype=DT), nn.LeakyReLU(0.1)),
                         nn.Linear(4, 4, dtype=DT), nn.Sigmoid(), nn.Identity(),
                         nn.Linear(4, 3, dtype=DT), nn.ReLU(), nn.Linear(3, 3, dtype=DT))


def _targets(kind, g, shape):
    if kind == "ce":
        return torch.randint(0, 3, shape[:-1], generator=g)
    return torch.randn(shape, generator=g, dtype=DT)


_LOSSES = {"mse": nn.MSELoss(), "ce": nn.CrossEntropyLoss(), "nll": gaussian_nll(0.7),
           "other": lambda out, y: (out - y).abs().mean()}  # through autograd


def _target_kind(kind):
    return "ce" if kind == "ce" else "real"


@pytest.mark.parametrize("chains", [3, 10])  # 10 > the per-chain loop: the loss under vmap
@pytest.mark.parametrize("kind", list(_LOSSES))
def test_loss_and_gradient_match_autograd_per_chain(kind, chains):
    # Independent computation: each chain's loss and torch.func.grad of the model itself
    # (functional_call) at that chain's parameters. Agreement to 1e-12 relative (float64; the
    # two sum in different orders).
    m, lf = _mlp(), _LOSSES[kind]
    like = trainable_params(m)
    stack = Stack.of(m, lf, like)
    assert stack is not None
    g = torch.Generator().manual_seed(1)
    x = torch.randn(chains, 17, 3, generator=g, dtype=DT)
    y = _targets(_target_kind(kind), g, (chains, 17, 3))
    w = flatten(like) + 0.3 * torch.randn(chains, sum(p.numel() for p in like.values()),
                                          generator=g, dtype=DT)
    loss = make_loss(m, lf, like)
    stack = stack.for_targets(y, tuple(y.shape[2:]))
    assert (stack.form is None) == (kind == "other")  # MSE, CE, Gaussian NLL: closed form
    grad = torch.zeros_like(w)
    vals = stack.loss_and_grad(loss.split(w), x.mT, y, loss.split(grad))  # inputs feature-major
    for c in range(chains):
        f = lambda v, c=c: lf(call(m, loss.split(v), x[c]), y[c])  # noqa: E731
        assert float(vals[c]) == pytest.approx(float(f(w[c])), rel=1e-12)
        assert torch.allclose(grad[c], torch.func.grad(f)(w[c]), rtol=1e-12, atol=1e-14)


def test_tied_and_frozen_parameters():
    # A weight used by two layers gets the sum of both layers' gradients; a parameter left out
    # of the sampled set (weight-refined LLC) keeps the model's value and gets none.
    torch.manual_seed(2)
    a, b = nn.Linear(4, 4, dtype=DT), nn.Linear(4, 4, dtype=DT)
    b.weight = a.weight
    m = nn.Sequential(a, nn.Tanh(), b)
    like = {k: v for k, v in trainable_params(m).items() if k != "0.bias"}
    assert sorted(like) == ["0.weight", "2.bias"]
    stack = Stack.of(m, nn.MSELoss(), like)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 9, 4, generator=g, dtype=DT)
    y = torch.randn(2, 9, 4, generator=g, dtype=DT)
    loss = make_loss(m, nn.MSELoss(), like)
    w = flatten(like) + 0.2 * torch.randn(2, 20, generator=g, dtype=DT)
    grad = torch.zeros_like(w)
    stack.for_targets(y, (4,)).loss_and_grad(loss.split(w), x.mT, y, loss.split(grad))
    for c in range(2):
        f = lambda v, c=c: nn.MSELoss()(call(m, loss.split(v), x[c]), y[c])  # noqa: E731
        assert torch.allclose(grad[c], torch.func.grad(f)(w[c]), rtol=1e-12, atol=1e-14)


def test_other_models_and_losses_take_the_general_path():
    lin = nn.Linear(3, 2, dtype=DT)
    assert Stack.of(nn.Sequential(lin, nn.GELU()), nn.MSELoss(), trainable_params(lin)) is None
    hooked = nn.Sequential(nn.Linear(3, 2, dtype=DT))
    hooked.register_forward_hook(lambda *a: None)
    assert Stack.of(hooked, nn.MSELoss(), trainable_params(hooked)) is None
    s = Stack.of(nn.Sequential(lin), nn.MSELoss(), trainable_params(lin))
    y = torch.zeros(5, dtype=DT)  # one target per row for two outputs: MSELoss broadcasts
    assert s.for_targets(y, ()).form is None
    ce = Stack.of(nn.Sequential(lin), nn.CrossEntropyLoss(ignore_index=1), trainable_params(lin))
    assert ce.for_targets(torch.tensor([0, 1]), ()).form is None  # an ignored class present
    assert ce.for_targets(torch.tensor([0, 0]), ()).form is not None


@pytest.mark.parametrize("model", ["mlp", "linear"])  # linear: the collapsed affine map
@pytest.mark.parametrize("batch", [16, 64])  # minibatch and full batch
def test_sampler_runs_agree_with_the_general_path(batch, model):
    # The same chains (generators, settings) through the stack path (a model's loss) and
    # through the vmapped path (a loss of a flat vector, which has no stack): the same
    # positions and traces after 40 steps, per-chain centres and targets included, to 1e-9
    # relative (float64; rounding differences grow along the chains by ~(1 + ε·a)^T).
    torch.manual_seed(4)
    m = _mlp(4) if model == "mlp" else nn.Sequential(
        nn.Linear(3, 2, bias=False, dtype=DT), nn.Linear(2, 2, dtype=DT),
        nn.Linear(2, 3, bias=False, dtype=DT))
    like = trainable_params(m)
    fast = make_loss(m, nn.MSELoss(), like)
    general = lambda w, xb, yb: fast(w, xb, yb)  # noqa: E731  (not a model loss: no stack)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(64, 3, generator=g, dtype=DT)
    y = torch.randn(2, 64, 3, generator=g, dtype=DT)
    p = sum(v.numel() for v in like.values())
    centres = flatten(like) + 0.1 * torch.randn(4, p, generator=g, dtype=DT)
    kw = dict(nbeta=30.0, step_size=torch.tensor([1e-3, 2e-3, 1e-3, 5e-4], dtype=DT),
              localization=2.0, chains=4, steps=40, batch_size=batch, sampler="sgld",
              groups=torch.tensor([0, 0, 1, 1]))
    a = run_chains(fast, centres, x, y, generator=torch.Generator().manual_seed(6), **kw)
    b = run_chains(general, centres, x, y, generator=torch.Generator().manual_seed(6), **kw)
    assert torch.allclose(a.final, b.final, rtol=1e-9, atol=1e-12)
    assert torch.allclose(a.losses, b.losses, rtol=1e-9, atol=0)
    assert torch.allclose(a.ref_losses, b.ref_losses, rtol=1e-12, atol=0)


@pytest.mark.parametrize("kind", ["mse", "ce", "nll"])
@pytest.mark.parametrize("steps", [3, 40])  # 3·16 < 64 rows: L_B(w*) by a forward at w*
def test_reference_losses_of_shared_centres_agree_with_the_general_path(kind, steps):
    # Checkpoints as a trajectory batches them: two centres, two chains each with the centre's
    # targets. A run of ≥ n rows per chain reads L_B(w*) from a table of every row's loss at
    # each distinct centre, a shorter one runs a forward at w*; both against the vmapped path
    # (functional_call at w* of each chain's minibatch), to 1e-12 relative (float64, summed in
    # another order), and the positions as in the test above.
    m, lf = _mlp(7), _LOSSES[kind]
    like = trainable_params(m)
    fast = make_loss(m, lf, like)
    general = lambda w, xb, yb: fast(w, xb, yb)  # noqa: E731
    g = torch.Generator().manual_seed(8)
    x = torch.randn(64, 3, generator=g, dtype=DT)
    y = _targets(_target_kind(kind), g, (2, 64, 3))
    p = sum(v.numel() for v in like.values())
    centres = (flatten(like) + 0.1 * torch.randn(2, p, generator=g, dtype=DT)
               ).repeat_interleave(2, 0)
    kw = dict(nbeta=30.0, step_size=1e-3, localization=2.0, chains=4, steps=steps,
              batch_size=16, sampler="sgld", groups=torch.tensor([0, 0, 1, 1]))
    a = run_chains(fast, centres, x, y, generator=torch.Generator().manual_seed(9), **kw)
    b = run_chains(general, centres, x, y, generator=torch.Generator().manual_seed(9), **kw)
    assert torch.allclose(a.ref_losses, b.ref_losses, rtol=1e-12, atol=0)
    assert torch.allclose(a.losses, b.losses, rtol=1e-9, atol=0)
    assert torch.allclose(a.final, b.final, rtol=1e-9, atol=1e-12)


def _linear_only(case):
    torch.manual_seed(11)
    if case == "tied":  # the middle weight tied to the first, the last bias frozen
        a, c = nn.Linear(4, 4, dtype=DT), nn.Linear(4, 3, dtype=DT)
        b = nn.Linear(4, 4, bias=False, dtype=DT)
        b.weight = a.weight
        m = nn.Sequential(a, b, nn.Identity(), c)
        return m, {k: v for k, v in trainable_params(m).items() if k != "3.bias"}
    bias = case == "bias"
    m = nn.Sequential(nn.Linear(4, 3, bias=bias, dtype=DT), nn.Linear(3, 3, bias=bias, dtype=DT),
                      nn.Sequential(nn.Linear(3, 4, bias=bias, dtype=DT)))
    return m, trainable_params(m)


@pytest.mark.parametrize("kind", ["mse", "ce", "other"])
@pytest.mark.parametrize("case", ["plain", "bias", "tied"])
def test_linear_layers_collapsed_match_autograd_per_chain(case, kind):
    # Linear layers only (a deep linear network, with biases, tied and frozen parameters) take
    # the composite affine map; each chain's loss and gradient against torch.func.grad of the
    # model at that chain's parameters, to 1e-12 relative as above.
    m, like = _linear_only(case)
    lf = _LOSSES[kind]
    stack = Stack.of(m, lf, like)
    assert stack.affine
    g = torch.Generator().manual_seed(12)
    x = torch.randn(5, 23, 4, generator=g, dtype=DT)
    width = 3 if case == "tied" else 4
    y = _targets(_target_kind(kind), g, (5, 23, width))
    p = sum(v.numel() for v in like.values())
    w = flatten(like) + 0.3 * torch.randn(5, p, generator=g, dtype=DT)
    loss = make_loss(m, lf, like)
    stack = stack.for_targets(y, tuple(y.shape[2:]))
    grad = torch.zeros_like(w)
    vals = stack.loss_and_grad(loss.split(w), x.mT, y, loss.split(grad))
    for c in range(5):
        f = lambda v, c=c: lf(call(m, loss.split(v), x[c]), y[c])  # noqa: E731
        assert float(vals[c]) == pytest.approx(float(f(w[c]).detach()), rel=1e-12)
        assert torch.allclose(grad[c], torch.func.grad(f)(w[c]), rtol=1e-12, atol=1e-14)
    wide = nn.Sequential(nn.Linear(6, 2, dtype=DT), nn.Linear(2, 6, dtype=DT))  # 36 > 12 + 12
    assert not Stack.of(wide, lf, trainable_params(wide)).affine


@pytest.mark.parametrize("kind", ["mse", "nll"])
@pytest.mark.parametrize("case", ["bias", "tied"])
@pytest.mark.parametrize("centres", [1, 2])  # one shared centre, or two with two chains each
def test_own_targets_as_residuals_match_gathered_targets(case, kind, centres):
    # Relabelled checkpoints: each centre's targets are its own outputs. The collapsed stack then
    # takes the residuals (P − P*)·x + (q − q*) instead of gathering the targets: the same traces
    # and positions as gathering them, to 1e-9 after 40 steps (float64; rounding grows along the
    # chains as in the tests above), and L_B(w*) = 0 exactly.
    m, like = _linear_only(case)
    lf = _LOSSES[kind]
    loss = make_loss(m, lf, like)
    g = torch.Generator().manual_seed(13)
    x = torch.randn(64, 4, generator=g, dtype=DT)
    p = sum(v.numel() for v in like.values())
    w = flatten(like) + 0.3 * torch.randn(centres, p, generator=g, dtype=DT)
    with torch.no_grad():
        y = torch.stack([call(m, loss.split(w[i]), x) for i in range(centres)])
    if centres == 1:
        at, y, groups = w[0], y[0], None
    else:
        at, groups = w.repeat_interleave(2, 0), torch.tensor([0, 0, 1, 1])
    kw = dict(nbeta=30.0, step_size=1e-3, localization=2.0, chains=4, steps=40, batch_size=16,
              sampler="sgld", groups=groups)
    a = run_chains(loss, at, x, y, generator=torch.Generator().manual_seed(14),
                   own_targets=True, **kw)
    b = run_chains(loss, at, x, y, generator=torch.Generator().manual_seed(14), **kw)
    assert torch.equal(a.ref_losses, torch.zeros_like(a.ref_losses))
    assert float(b.ref_losses.abs().max()) < 1e-28  # the gathered targets: zero up to rounding
    # the first step is at w*: 0 against rounding (≤ 1e-28)
    assert torch.allclose(a.losses, b.losses, rtol=1e-9, atol=1e-20)
    assert torch.allclose(a.final, b.final, rtol=1e-9, atol=1e-12)
    assert not Stack.of(m, nn.CrossEntropyLoss(), like).for_targets(
        torch.zeros(64, dtype=torch.long), ()).takes_residuals
