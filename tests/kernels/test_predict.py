"""``kernels.predict`` against independent computations, and its errors on bad input."""

import numpy as np
import pytest
import torch

from occamlab import kernels as K
from occamlab.kernels import predict


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(3)
    x, xt = rng.standard_normal((9, 4)), rng.standard_normal((3, 4))
    y = rng.standard_normal((9, 2))
    arch = K.mlp(2, "erf", w_std=1.3, b_std=0.2)
    return arch, x, xt, y, arch.kernel(x), arch.kernel(xt, x), arch.kernel(xt)


def test_mean_solves_the_flow_by_matrix_exponential(setup):
    # independent: scipy's expm of −Θt/N_y instead of the eigenbasis
    from scipy.linalg import expm, solve

    arch, x, xt, y, kdd, ktd, _ = setup
    fn = predict.gradient_descent_mse_ensemble(arch, x, y)
    th, ths = kdd.ntk.numpy(), ktd.ntk.numpy()
    for t in (0.0, 3.0, 50.0):
        e = np.eye(9) - expm(-th * t / y.size)
        want = ths @ solve(th, e @ y)
        np.testing.assert_allclose(fn(t, xt, "ntk").numpy(), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fn(None, xt, "ntk").numpy(), ths @ solve(th, y), rtol=1e-10)
    # t = 0: the ensemble mean is 0 and its covariance the NNGP of the test inputs
    m, c = fn(0.0, xt, "ntk", compute_cov=True)
    assert np.abs(m.numpy()).max() < 1e-14
    np.testing.assert_allclose(c.numpy(), setup[6].nngp.numpy(), rtol=1e-12)


def test_times_keep_their_shape_and_agree_with_scalars(setup):
    arch, x, xt, y, *_ = setup
    fn = predict.gradient_descent_mse_ensemble(arch, x, y, diag_reg=1e-3)
    t = np.array([[0.0, 1.0, 7.0], [30.0, 200.0, np.inf]])
    got = fn(t, xt, compute_cov=True)
    assert got.ntk.mean.shape == (2, 3, 3, 2) and got.nngp.covariance.shape == (2, 3, 3, 3)
    for idx in ((0, 0), (0, 2), (1, 1), (1, 2)):
        one = fn(float(t[idx]), xt, "nngp", compute_cov=True)
        torch.testing.assert_close(got.nngp.mean[idx], one.mean, rtol=1e-13, atol=1e-15)
        torch.testing.assert_close(got.nngp.covariance[idx], one.covariance, rtol=1e-13,
                                   atol=1e-15)
    torch.testing.assert_close(got.ntk.mean[1, 2], fn(None, xt, "ntk"), rtol=1e-13, atol=0)


def test_kernel_function_and_one_dimensional_targets(setup):
    arch, x, xt, y, *_ = setup

    def kernel_fn(a, b, get):  # neural-tangents' signature
        return arch.kernel(a, b)

    a = predict.gradient_descent_mse_ensemble(kernel_fn, x, y[:, 0])(5.0, xt, "ntk")
    b = predict.gradient_descent_mse_ensemble(arch, x, y[:, :1])(5.0, xt, "ntk")
    assert a.shape == (3,)
    torch.testing.assert_close(a, b[:, 0], rtol=1e-14, atol=0)


def test_ode_with_the_mse_loss_is_the_closed_form(setup):
    # ½·mean((f − y)²) has gradient (f − y)/N_y, so the ODE is the closed-form flow; the
    # difference is DOP853's global error at rtol 1e-10 (measured ~1e-11): 1e-8 bounds it.
    _, _, _, y, kdd, ktd, _ = setup
    rng = np.random.default_rng(0)
    f0, ft0 = rng.standard_normal((9, 2)), rng.standard_normal((3, 2))
    ts = [40.0, 0.0, 2.5]  # any order
    f, ft = predict.gradient_descent(lambda f, y: 0.5 * ((f - y) ** 2).mean(), kdd.ntk, y)(
        ts, f0, ft0, ktd.ntk)
    g, gt = predict.gradient_descent_mse(kdd.ntk, y)(ts, f0, ft0, ktd.ntk)
    torch.testing.assert_close(f, g, rtol=0, atol=1e-8)
    torch.testing.assert_close(ft, gt, rtol=0, atol=1e-8)
    torch.testing.assert_close(f[1], torch.as_tensor(f0), rtol=0, atol=0)


def test_max_learning_rate_is_the_edge_of_stability(setup):
    # gradient descent on ½·mean((f − y)²) with step η multiplies the residual by I − ηΘ/N_y:
    # just below the bound it converges, just above it diverges
    _, _, _, y, kdd, _, _ = setup
    th = kdd.ntk
    lr = predict.max_learning_rate(th, y.size)
    for factor, grows in ((0.98, False), (1.02, True)):
        r = torch.as_tensor(y).clone()
        for _ in range(3000):
            r = r - factor * lr * th @ r / y.size
        assert bool(r.norm() > 1.0) is grows


def test_gradient_descent_mse_train_set_limits(setup):
    _, _, _, y, kdd, _, _ = setup
    fn = predict.gradient_descent_mse(kdd.ntk, y)
    assert torch.equal(fn(None, 0.0), torch.as_tensor(y))
    torch.testing.assert_close(fn(0.0, 0.5), torch.full((9, 2), 0.5, dtype=torch.float64))
    only_test = fn(10.0, None, 0.0, kdd.ntk)  # on the training inputs as test inputs
    torch.testing.assert_close(only_test, fn(10.0, 0.0), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- bad input


def test_bad_times(setup):
    arch, x, xt, y, kdd, *_ = setup
    fn = predict.gradient_descent_mse_ensemble(arch, x, y)
    with pytest.raises(ValueError, match="t must hold training times ≥ 0.*-1.0"):
        fn([0.0, -1.0], xt)
    with pytest.raises(ValueError, match="t must hold training times ≥ 0.*nan"):
        fn(float("nan"), xt)
    with pytest.raises(ValueError, match="t must be finite"):
        predict.gradient_descent(lambda f, y: f.sum(), kdd.ntk, y)(None)


def test_row_mismatch_and_shapes(setup):
    arch, x, xt, y, kdd, ktd, _ = setup
    with pytest.raises(ValueError, match="y_train has 8 rows but x_train has 9"):
        predict.gradient_descent_mse_ensemble(arch, x, y[:8])
    with pytest.raises(ValueError, match="y_train has 8 rows but ntk_train_train has 9"):
        predict.gradient_descent_mse(kdd.ntk, y[:8])
    fn = predict.gradient_descent_mse(kdd.ntk, y)
    with pytest.raises(ValueError, match=r"ntk_test_train must have shape \(m, 9\)"):
        fn(1.0, 0.0, 0.0, ktd.ntk[:, :5])
    with pytest.raises(ValueError, match="fx_test_0 needs ntk_test_train"):
        fn(1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match=r"fx_train_0 must be a number or have shape \(9, 2\)"):
        fn(1.0, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="x_test must have the feature shape"):
        predict.gradient_descent_mse_ensemble(arch, x, y)(1.0, np.zeros((2, 5)))


def test_non_psd_and_singular_kernels(setup):
    _, _, _, y, kdd, _, _ = setup
    bad = kdd.ntk.clone()
    bad[0, 0] = -5.0
    with pytest.raises(ValueError, match="not positive semi-definite: smallest eigenvalue"):
        predict.gradient_descent_mse(bad, y)(1.0)
    with pytest.raises(ValueError, match="not symmetric"):
        predict.gradient_descent_mse(kdd.ntk + torch.triu(torch.ones(9, 9)), y)(1.0)
    # a duplicated training input makes the kernel singular
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 3))
    x[5] = x[0]
    arch = K.mlp(1)
    fn = predict.gradient_descent_mse_ensemble(arch, x, rng.standard_normal((6, 1)))
    with pytest.raises(ValueError, match="singular.*pass diag_reg > 0"):
        fn(None, x[:2], "nngp")
    assert torch.isfinite(fn(10.0, x[:2], "nngp")).all()  # finite times need no inverse
    reg = predict.gradient_descent_mse_ensemble(arch, x, rng.standard_normal((6, 1)),
                                                diag_reg=1e-6)
    assert torch.isfinite(reg(None, x[:2], "nngp")).all()
    with pytest.raises(ValueError, match="singular"):
        predict.gp_inference(arch.kernel(x), np.ones((6, 1)))("ntk", arch.kernel(x[:2], x))


def test_unknown_get_and_bad_arguments(setup):
    arch, x, xt, y, kdd, *_ = setup
    fn = predict.gradient_descent_mse_ensemble(arch, x, y)
    with pytest.raises(ValueError, match="get must be 'nngp', 'ntk', a tuple of them, or None"):
        fn(1.0, xt, "ntkgp")
    with pytest.raises(ValueError, match="get must be"):
        predict.gp_inference(kdd, y)(("ntk", "cov"), kdd)
    with pytest.raises(TypeError, match="kernel_fn must be an occamlab.kernels architecture"):
        predict.gradient_descent_mse_ensemble("relu", x, y)
    with pytest.raises(ValueError, match="diag_reg must be a finite number ≥ 0"):
        predict.gradient_descent_mse(kdd.ntk, y, diag_reg=-1.0)
    with pytest.raises(ValueError, match="momentum must be a finite number ≥ 0 and < 1"):
        predict.gradient_descent(lambda f, y: f.sum(), kdd.ntk, y, momentum=1.5)
