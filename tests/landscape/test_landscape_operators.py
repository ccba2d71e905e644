"""Hessian and GGN operators against closed forms and an independent torch.func oracle."""

import pytest
import torch
from _landscape_helpers import classification, dense_hessian, mlp, regression
from torch import nn

from occamlab import landscape as LS


def _linear_closed_form(x: torch.Tensor, k: int) -> torch.Tensor:
    # L(W) = (1/(N·k)) Σₙ ‖W xₙ − yₙ‖² (nn.MSELoss averages over all N·k entries); its Hessian in
    # W flattened row-major is ∂²L/∂W_ab∂W_cd = (2/(N·k)) δ_ac Σₙ x_nb x_nd = (2/(N·k)) I_k ⊗ XᵀX.
    n = x.shape[0]
    return 2.0 / (n * k) * torch.kron(torch.eye(k, dtype=x.dtype), x.T @ x)


@pytest.mark.parametrize("batch_size", [None, 7])
def test_linear_model_hessian_and_ggn_closed_form(batch_size):
    x, y = regression(30, 4, 3)
    model = nn.Linear(4, 3, bias=False, dtype=torch.float64)
    ref = _linear_closed_form(x, 3)
    h = LS.hessian(model, nn.MSELoss(), (x, y), batch_size=batch_size)
    assert h.shape == (12, 12)
    # tolerance 1e-10: exact formulas, float64 rounding of 30-term sums is ~1e-15
    torch.testing.assert_close(h.dense(), ref, rtol=0, atol=1e-10)
    g = LS.ggn(model, nn.MSELoss(), (x, y), batch_size=batch_size)  # G = H: f linear in W
    torch.testing.assert_close(g.dense(), ref, rtol=0, atol=1e-10)
    top = LS.eigenvalues(h, k=1, tol=1e-12).values[0]
    assert abs(float(top) - float(torch.linalg.eigvalsh(ref)[-1])) < 1e-10


def test_hessian_matches_torch_func_oracle_and_matmat():
    x, y = classification(40, 5, 3)
    model = mlp([5, 6, 3])
    h = LS.hessian(model, nn.CrossEntropyLoss(), (x, y), batch_size=16)
    ref = dense_hessian(model, nn.CrossEntropyLoss(), x, y)
    torch.testing.assert_close(h.dense(), ref, rtol=0, atol=1e-12)  # float64 rounding
    v = torch.randn(h.shape[0], 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(h @ v, ref @ v, rtol=0, atol=1e-12)
    torch.testing.assert_close(h @ v[:, 0], ref @ v[:, 0], rtol=0, atol=1e-12)


def test_ggn_is_psd_and_equals_jacobian_form_for_cross_entropy():
    x, y = classification(25, 4, 3)
    model = mlp([4, 5, 3])
    g = LS.ggn(model, nn.CrossEntropyLoss(), (x, y)).dense()
    # independent: Jᵀ ∇²ℓ J with the Jacobian of the logits and ∇²ℓ = (diag p − ppᵀ)/N per row
    from torch.func import functional_call, jacrev

    names = [k for k, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    sizes = [p.numel() for p in model.parameters()]
    w0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def f(w):
        parts = {n: t.reshape(s) for n, t, s in zip(names, torch.split(w, sizes), shapes)}
        return functional_call(model, parts, (x,))

    jac = jacrev(f)(w0)  # (N, C, P)
    p = torch.softmax(f(w0), dim=1)
    hl = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    ref = torch.einsum("ncp,ncd,ndq->pq", jac, hl, jac) / x.shape[0]
    torch.testing.assert_close(g, ref, rtol=0, atol=1e-12)
    assert float(torch.linalg.eigvalsh(g)[0]) > -1e-12


def test_function_form_and_params_subset():
    a = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    h = LS.hessian(lambda w: 0.5 * w @ a @ w + w.sin().sum(),
                   torch.tensor([0.3, -0.2], dtype=torch.float64))
    ref = a - torch.diag(torch.tensor([0.3, -0.2], dtype=torch.float64).sin())
    torch.testing.assert_close(h.dense(), ref, rtol=0, atol=1e-14)
    x, y = regression(10, 3, 2)
    model = mlp([3, 4, 2])
    full = dense_hessian(model, nn.MSELoss(), x, y)
    sub = LS.hessian(model, nn.MSELoss(), (x, y), params=["2.weight", "2.bias"]).dense()
    torch.testing.assert_close(sub, full[-10:, -10:], rtol=0, atol=1e-13)


def test_float32_model_in_float64():
    x, y = regression(10, 3, 2)
    model = mlp([3, 4, 2], dtype=torch.float32)
    h = LS.hessian(model, nn.MSELoss(), (x.float(), y.float()), dtype=torch.float64)
    assert h.dtype == torch.float64
    ref = dense_hessian(model.double(), nn.MSELoss(), x.float().double(), y.float().double())
    torch.testing.assert_close(h.dense(), ref, rtol=0, atol=1e-12)


@pytest.mark.gpu
def test_operators_and_estimators_on_cuda_match_cpu():
    x, y = classification(40, 5, 3)
    model = mlp([5, 6, 3])
    h_cpu = LS.hessian(model, nn.CrossEntropyLoss(), (x, y))
    cuda = mlp([5, 6, 3]).cuda()
    h = LS.hessian(cuda, nn.CrossEntropyLoss(), (x.cuda(), y.cuda()), batch_size=16)
    assert h.device.type == "cuda" and (h @ torch.ones(h.shape[0])).device.type == "cuda"
    torch.testing.assert_close(h.dense().cpu(), h_cpu.dense(), rtol=0, atol=1e-12)
    ev = LS.eigenvalues(h, k=2, tol=1e-10)
    torch.testing.assert_close(ev.values.cpu(), LS.eigenvalues(h_cpu, k=2, tol=1e-10).values,
                               rtol=0, atol=1e-9)  # both within 1e-10·‖H‖ (the tol promise)
    assert LS.density(h, steps=10, runs=2).density.device.type == "cuda"
    assert LS.trace(h, probes=9).matvecs == 9
