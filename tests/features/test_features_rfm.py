"""Recursive feature machines: kernel, AGOP update, feature recovery, API and bad input."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from occamlab.features import RFM


def _xx_sin(n, d=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    return X, X[:, 0] * X[:, 1] + torch.sin(X[:, 2])


def test_first_iteration_is_plain_laplace_kernel_ridge_regression():
    X, y = _xx_sin(60, d=5)
    Xt, _ = _xx_sin(10, d=5, seed=1)
    m = RFM(iters=0, bandwidth=3.0, ridge=1e-2, progress=False).fit(X, y)
    # Independent: SciPy distances and a dense NumPy solve.
    from scipy.spatial.distance import cdist

    Xn, yn, Xtn = X.numpy(), y.numpy(), Xt.numpy()
    K = np.exp(-cdist(Xn, Xn) / 3.0)
    alpha = np.linalg.solve(K + 1e-2 * np.eye(60), yn)
    ref = np.exp(-cdist(Xtn, Xn) / 3.0) @ alpha
    # Cholesky vs LU on a matrix with cond ~1e3: agreement ~1e-13; 1e-9 is loose.
    assert np.abs(m.predict(Xt).numpy() - ref).max() < 1e-9
    assert torch.equal(m.M_, torch.eye(5, dtype=torch.float64))


@pytest.mark.parametrize("kernel", ["laplace", "gaussian"])
@pytest.mark.parametrize("diagonal", [False, True])
def test_metric_update_is_the_agop_of_the_fitted_predictor(kernel, diagonal):
    X, y = _xx_sin(40, d=4)
    y = torch.stack([y, torch.cos(3 * y)], 1)  # two outputs: the AGOP sums over them
    m = RFM(kernel=kernel, iters=1, bandwidth=2.0, ridge=1e-2, diagonal=diagonal,
            progress=False).fit(X, y)
    # Refit iteration 0 and differentiate its predictor with autograd, independently of the
    # closed-form gradient inside RFM.
    m0 = RFM(kernel=kernel, iters=0, bandwidth=2.0, ridge=1e-2, progress=False).fit(X, y)
    Xg = X.clone().requires_grad_(True)
    diff = Xg[:, None, :] - X[None, :, :]
    # Drop the self-pairs exactly: the Laplace kernel's gradient has a cusp there, set to 0 (as
    # RFM does); off-diagonal pairs are far apart in this data.
    eye = torch.eye(40, dtype=torch.bool)
    sq = (diff ** 2).sum(-1).masked_fill(eye, 1.0)
    if kernel == "laplace":
        K = torch.exp(-sq.sqrt() / 2.0)
    else:
        K = torch.exp(-sq / 8.0)
    K = K.masked_fill(eye, 0.0) + torch.eye(40, dtype=torch.float64) * 1.0
    F = K @ m0.alpha_
    ref = 0
    for c in range(2):
        (G,) = torch.autograd.grad(F[:, c].sum(), Xg, retain_graph=True)  # row p: ∇f_c(x_p)
        ref = ref + G.T @ G / 40
    if diagonal:
        ref = torch.diag(torch.diagonal(ref))
    # Two float64 computations of the same sums: relative agreement to ~1e-14.
    assert float((m.M_ - ref).norm() / ref.norm()) < 1e-10
    assert m.best_iter_ == 1 and len(m.history_) == 2


def _recovery(n):
    X, y = _xx_sin(n)
    Xt, yt = _xx_sin(1000, seed=1)
    plain = RFM(iters=0, progress=False).fit(X, y)
    rfm = RFM(iters=5, progress=False).fit(X, y)
    mse0 = float(((plain.predict(Xt) - yt) ** 2).mean())
    mse = float(((rfm.predict(Xt) - yt) ** 2).mean())
    diag = torch.diagonal(rfm.M_)
    return mse0, mse, float(diag[:3].sum() / diag.sum())


def test_rfm_learns_the_relevant_coordinates_fast():
    mse0, mse, share = _recovery(1000)
    # The bars (after Radhakrishnan et al. 2024, Fig. 3): ≥10× lower test MSE than plain
    # Laplace regression and ≥90% of diag(M) on the three relevant coordinates.
    assert mse0 / mse >= 10
    assert share >= 0.9


@pytest.mark.slow
def test_rfm_learns_the_relevant_coordinates_full():
    mse0, mse, share = _recovery(4000)
    assert mse0 / mse >= 10
    assert share >= 0.9


def test_validation_selects_the_best_iteration_and_classification():
    g = torch.Generator().manual_seed(5)
    X = torch.randn(300, 10, generator=g, dtype=torch.float64)
    labels = torch.tensor([3, 7, 9])
    y = labels[(X[:, 0] > 0.5).long() + (X[:, 1] > 0.5).long()]
    Xv = torch.randn(200, 10, generator=g, dtype=torch.float64)
    yv = labels[(Xv[:, 0] > 0.5).long() + (Xv[:, 1] > 0.5).long()]
    m = RFM(iters=3, progress=False).fit(X, y, Xv, yv)
    accs = [h["val_accuracy"] for h in m.history_]
    assert m.best_iter_ == int(np.argmax(accs))
    assert torch.equal(m.classes_, labels)
    pred = m.predict(Xv)
    assert set(pred.tolist()) <= {3, 7, 9}
    # score is the accuracy of predict, recomputed here; and it equals the selected iteration's.
    assert m.score(Xv, yv) == pytest.approx(float((pred == yv).double().mean()), abs=1e-15)
    assert m.score(Xv, yv) == pytest.approx(max(accs), abs=1e-15)
    # Without validation data the last iteration is kept: its M is the validated fit's M_last_
    # (same deterministic iterations).
    last = RFM(iters=3, progress=False).fit(X, y)
    assert last.best_iter_ == 3 and torch.equal(last.M_, m.M_last_)
    assert clone(m).get_params()["iters"] == 3


def test_regression_score_is_r2_and_shapes_follow_y():
    X, y = _xx_sin(200, d=5)
    m = RFM(iters=1, progress=False).fit(X.numpy(), y.numpy())
    Xt, yt = _xx_sin(50, d=5, seed=2)
    p = m.predict(Xt)
    assert p.shape == (50,)
    r2 = 1 - float(((yt - p) ** 2).sum() / ((yt - yt.mean()) ** 2).sum())
    assert m.score(Xt, yt) == pytest.approx(r2, abs=1e-12)  # the textbook R², recomputed
    m2 = RFM(iters=1, progress=False).fit(X, torch.stack([y, 2 * y], 1))
    # Two targets, one proportional to the other: their predictions keep the proportion
    # (linear in y), to rounding.
    P2 = m2.predict(Xt)
    assert P2.shape == (50, 2)
    assert torch.allclose(P2[:, 1], 2 * P2[:, 0], atol=1e-10)


# -- bad input -------------------------------------------------------------------------------

def test_bad_input_errors():
    X, y = _xx_sin(20, d=3)
    with pytest.raises(ValueError, match="at least 2 training samples, got 1"):
        RFM(progress=False).fit(X[:1], y[:1])
    Xn = X.clone()
    Xn[3, 2] = float("nan")
    with pytest.raises(ValueError, match=r"X contains non-finite values \(1 NaN"):
        RFM(progress=False).fit(Xn, y)
    yn = y.clone()
    yn[0] = float("nan")
    with pytest.raises(ValueError, match=r"y contains non-finite values \(1 NaN"):
        RFM(progress=False).fit(X, yn)
    with pytest.raises(ValueError, match="y has 19 rows but X has 20"):
        RFM(progress=False).fit(X, y[:-1])
    with pytest.raises(ValueError, match=r"X must have 2 dimensions, got shape \(20, 1, 3\)"):
        RFM(progress=False).fit(X[:, None], y)
    with pytest.raises(ValueError, match="kernel must be one of"):
        RFM(kernel="rbf", progress=False).fit(X, y)
    with pytest.raises(ValueError, match="bandwidth must be > 0"):
        RFM(bandwidth=0.0, progress=False).fit(X, y)
    with pytest.raises(ValueError, match="give both X_val and y_val"):
        RFM(progress=False).fit(X, y, X_val=X)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        RFM().predict(X)
    m = RFM(iters=0, progress=False).fit(X, y)
    with pytest.raises(ValueError, match=r"X has 4 features, but the RFM was fitted on 3"):
        m.predict(torch.randn(5, 4))
    with pytest.raises(ValueError, match=r"X_val has 4 features"):
        RFM(progress=False).fit(X, y, torch.randn(5, 4), torch.randn(5))


def test_ridge_too_small_is_reported():
    X, y = _xx_sin(10, d=3)
    X = torch.cat([X, X])  # duplicate points: K is exactly singular, Cholesky fails at ridge 0
    y = torch.cat([y, y])
    with pytest.raises(ValueError, match=r"not positive definite.*ridge=0.0 is too small"):
        RFM(ridge=0.0, iters=0, progress=False).fit(X, y)
    # The suggested fix works.
    RFM(ridge=1e-6, iters=0, progress=False).fit(X, y)


def test_normalize_divides_the_agop_by_its_largest_entry():
    X, y = _xx_sin(80, d=4)
    plain = RFM(iters=1, ridge=1e-2, progress=False).fit(X, y)
    scaled = RFM(iters=1, ridge=1e-2, normalize=True, progress=False).fit(X, y)
    # After one update both M are the same AGOP (iteration 0 is identical); normalizing only
    # divides it by its maximum: equal to rounding.
    ref = plain.M_ / plain.M_.max()
    assert float((scaled.M_ - ref).abs().max()) < 1e-12
    assert float(scaled.M_.max()) == 1.0
