"""Residual branches, concatenation, layer norm and local average pooling: closed forms,
independent computations, the finite network and its convergence, and bad input."""

import numpy as np
import pytest
import torch

from occamlab import kernels as K

W = 2 ** 0.5


def relu_kernels(s, q1, q2):
    """Arc-cosine kernel of degree 1 (Cho & Saul 2009, Eq. 6) and its derivative kernel."""
    c = np.clip(s / np.sqrt(q1 * q2), -1, 1)
    theta = np.arccos(c)
    t = np.sqrt(q1 * q2) / (2 * np.pi) * (np.sin(theta) + (np.pi - theta) * c)
    return t, (np.pi - theta) / (2 * np.pi)


def test_residual_block_adds_the_arccos_kernel_to_the_inputs():
    # h = Dense₀(x), z = h + Dense₂(ReLU(Dense₁(h))): independent zero-mean weights, so the
    # cross-covariance of h and the branch vanishes and both kernels add: Σ = Σ₀ + Σ₂, and
    # Θ = Θ₀ + Θ₂ with the branch's Θ₂ = Σ₂ + w₂²·Ṫ·(Σ₁ + w₁²·Θ₀) (Jacot et al. 2018, the
    # recursion of Lee et al. 2019, Eq. 7), Θ₀ = Σ₀.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 5))
    x[3] = x[0]
    w0, b0, w1, b1, w2, b2 = 1.1, 0.3, 1.3, 0.2, 0.9, 0.4
    arch = K.serial(K.Dense(w0, b0), K.residual(K.Dense(w1, b1), K.Relu(), K.Dense(w2, b2)))
    k = arch.kernel(x)
    s0 = w0 ** 2 * x @ x.T / 5 + b0 ** 2
    s1 = w1 ** 2 * s0 + b1 ** 2
    q = np.diag(s1)
    t, tdot = relu_kernels(s1, q[:, None], q[None, :])
    s2 = w2 ** 2 * t + b2 ** 2
    theta2 = s2 + w2 ** 2 * tdot * (s1 + w1 ** 2 * s0)
    # float64 arccos near c = 1 (duplicates, the diagonal) in the reference: √eps·(π−θ)' ~ 1e-8
    np.testing.assert_allclose(k.nngp.numpy(), s0 + s2, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(k.ntk.numpy(), s0 + theta2, rtol=1e-7, atol=1e-12)


def test_layer_norm_after_dense_gives_the_cosine_normalized_kernel():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 4)) * rng.uniform(0.5, 3, size=(6, 1))
    w, b = 1.4, 0.3
    s = w ** 2 * x @ x.T / 4 + b ** 2
    cos = s / np.sqrt(np.outer(np.diag(s), np.diag(s)))
    k = K.serial(K.Dense(w, b), K.LayerNorm(eps=0.0)).kernel(x)
    # Θ₁ = Σ₁ for the first layer, so both become the cosine; float64 rounding only
    np.testing.assert_allclose(k.nngp.numpy(), cos, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(k.ntk.numpy(), cos, rtol=1e-14, atol=1e-15)
    # and with neural-tangents' eps = 1e-12 the difference is of that order
    k12 = K.serial(K.Dense(w, b), K.LayerNorm()).kernel(x)
    assert np.abs(k12.nngp.numpy() - cos).max() < 1e-11


def test_concatenation_averages_the_branch_kernels():
    torch.manual_seed(2)
    x = torch.randn(6, 5, dtype=torch.float64)
    first = K.Dense(1.3, 0.1)
    cat = K.serial(first, K.FanOut(2), K.parallel(K.Relu(), K.Erf()), K.FanInConcat(),
                   K.Dense()).kernel(x)
    relu = K.serial(first, K.Relu(), K.Dense()).kernel(x)
    erf = K.serial(first, K.Erf(), K.Dense()).kernel(x)
    # the readout's fan-in is the sum of the branch widths: equal halves; rounding only
    for kind in ("nngp", "ntk"):
        want = (getattr(relu, kind) + getattr(erf, kind)) / 2
        torch.testing.assert_close(getattr(cat, kind), want, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("window,stride,padding", [(2, None, "valid"), (3, 2, "same"),
                                                   (3, 1, "circular"), ((2, 3), (1, 2), "same")])
def test_pooling_the_input_is_pooling_the_signal(window, stride, padding):
    # AvgPool is linear: its kernel on x is the kernel of the explicitly pooled signal
    torch.manual_seed(3)
    shape = (2, 9) if isinstance(window, int) else (2, 5, 7)
    x = torch.randn(5, *shape, dtype=torch.float64)
    pool = K.AvgPool(window, stride, padding)
    pooled = pool.network(shape, width=1, dtype=torch.float64)(x)
    rest = [K.Conv(3, "same", W, 0.1), K.Relu(), K.Flatten(), K.Dense()]
    got = K.serial(pool, *rest).kernel(x)
    want = K.serial(*rest).kernel(pooled)
    torch.testing.assert_close(got.ntk, want.ntk, rtol=1e-13, atol=1e-14)  # summation order


def test_pool_module_follows_the_same_padding_convention():
    # XLA/neural-tangents SAME for n = 7, window 3, stride 2: 4 outputs, 2 padded zeros of which
    # 1 before; the zeros count in the 1/3 (normalize_edges=False). Written out by hand:
    x = torch.arange(1.0, 8.0, dtype=torch.float64).reshape(1, 1, 7)
    got = K.AvgPool(3, 2, "same").network((1, 7), width=1, dtype=torch.float64)(x)
    want = torch.tensor([0 + 1 + 2, 2 + 3 + 4, 4 + 5 + 6, 6 + 7 + 0], dtype=torch.float64) / 3
    torch.testing.assert_close(got[0, 0], want, rtol=0, atol=1e-15)


def test_float32_residual_cnn_with_pool_and_norm_keeps_duplicates_exact():
    torch.manual_seed(4)
    arch = K.serial(K.Conv(3, "same", W, 0.1), K.residual(K.Relu(), K.Conv(3, "same", W)),
                    K.LayerNorm(), K.Relu(), K.AvgPool(2), K.Conv(3, "same", W, 0.1), K.Relu(),
                    K.GlobalAvgPool(), K.Dense())
    x = torch.randn(10, 2, 12)
    x2 = torch.cat([x[2:6], torch.randn(3, 2, 12), x[:1]])
    for other in (None, x2):
        k64 = arch.kernel(x, other).ntk
        k32 = arch.kernel(x, other, dtype=torch.float32).ntk.double()
        # float32 eps 1.2e-7 over ~a dozen layers stays below 1e-6; an arccos of a rounded
        # cosine at a duplicate would give √eps ≈ 3e-4
        assert ((k32 - k64).abs() / k64.abs().max()).max().item() < 1e-6


def test_blocking_a_residual_cnn_with_pooling_gives_the_same_kernel():
    torch.manual_seed(5)
    arch = K.serial(K.Conv(3, "same", W, 0.1), K.residual(K.Relu(), K.Conv(3, "same", W)),
                    K.Relu(), K.AvgPool(2), K.GlobalAvgPool(), K.Dense())
    x1 = torch.randn(9, 1, 10, dtype=torch.float64)
    whole, blocked = arch.kernel(x1, batch_size=100), arch.kernel(x1, batch_size=4)
    # the same operations per entry, up to summation order
    torch.testing.assert_close(blocked.ntk, whole.ntk, rtol=1e-13, atol=0)


# --------------------------------------------------------------------------- finite networks


def slope(widths, errs):
    return np.polyfit(np.log(widths), np.log(errs), 1)[0]


CONVERGE = {
    "residual MLP": (K.serial(K.Dense(W, 0.1), K.residual(K.Relu(), K.Dense(W, 0.1)),
                              K.residual(K.Relu(), K.Dense(W)), K.Relu(), K.Dense()), (5,),
                     [32, 128, 512]),
    "concat": (K.serial(K.Dense(1.3, 0.1), K.FanOut(2), K.parallel(K.Relu(), K.Erf()),
                        K.FanInConcat(), K.Dense(1.2, 0.1), K.Relu(), K.Dense()), (5,),
               [32, 128, 512]),
    "layer norm": (K.serial(K.Dense(1.5, 0.5), K.LayerNorm(), K.Relu(), K.Dense(1.2, 0.1),
                            K.LayerNorm(), K.Erf(), K.Dense()), (5,), [32, 128, 512]),
    "residual CNN, pool, norm": (
        K.serial(K.Conv(3, "same", W, 0.1), K.residual(K.Relu(), K.Conv(3, "same", W)),
                 K.LayerNorm(), K.Relu(), K.AvgPool(2), K.Conv(3, "same", W), K.Relu(),
                 K.GlobalAvgPool(), K.Dense()), (2, 8), [8, 32, 128]),
}


@pytest.mark.parametrize("name", list(CONVERGE))
def test_empirical_ntk_converges(name):
    arch, shape, widths = CONVERGE[name]
    torch.manual_seed(6)
    x = torch.randn(5, *shape, dtype=torch.float64)
    errs = K.finite_width_error(arch, x, widths, seeds=6).numpy()
    # fluctuations of sums over `width` independent units: slope −1/2. Measured over inputs
    # drawn with seeds 6–8 (6 networks each): slopes −0.38 to −0.59, so ±0.25 leaves room for
    # the scatter of a mean of 6 over a 16× range; a kernel off by O(1) would flatten it to 0
    assert -0.75 < slope(widths, errs) < -0.25, errs
    assert errs[-1] < 0.25, errs  # measured 0.08–0.16 at the largest width


def test_network_modules_and_shapes():
    arch = K.parse_spec("conv(3) residual(relu conv(3)) layernorm relu avgpool(2) "
                        "fanout(2) parallel(conv(3), conv(5)) concat conv(3) relu gap dense")
    net = arch.network((2, 8), width=6, seed=0, out_dim=3)
    x = torch.randn(4, 2, 8)
    assert net(x).shape == (4, 3)
    names = [type(m).__name__ for m in net.modules()]
    assert "AvgPool1d" in names and "_ChannelNorm" in names
    same = arch.network((2, 8), width=6, seed=0, out_dim=3)
    assert torch.equal(net(x), same(x))
    flat = K.serial(K.Dense(), K.LayerNorm(), K.Dense()).network((4,), width=5)
    assert isinstance(flat[1], torch.nn.LayerNorm) and flat[1].weight is None
    img = K.serial(K.Conv(2), K.AvgPool((2, 2), padding="same"), K.Flatten(), K.Dense())
    assert img.network((1, 5, 5), width=3)(torch.randn(2, 1, 5, 5)).shape == (2, 1)


def test_branches_pass_the_parameterization_to_their_layers():
    arch = K.serial(K.Dense(W), K.residual(K.Relu(), K.Dense(W, 0.1)), K.LayerNorm(), K.Relu(),
                    K.Dense())
    ntk = arch.network((5,), width=16, seed=0)
    std = arch.network((5,), width=16, seed=0, parameterization="standard")
    branch_ntk, branch_std = ntk[2].branches[0][1], std[2].branches[0][1]
    # the same draws, scaled at initialisation instead of in the forward pass
    torch.testing.assert_close(branch_std.weight * getattr(branch_std, "scale", 1.0),
                               branch_ntk.weight * branch_ntk.scale)
    x = torch.randn(3, 5)
    torch.testing.assert_close(std(x), ntk(x), rtol=1e-5, atol=1e-5)  # same function, float32


def test_channel_norm_matches_a_hand_written_one():
    x = torch.randn(3, 4, 6, dtype=torch.float64)
    net = K.serial(K.Conv(1), K.LayerNorm(eps=1e-5)).network((4, 6), width=4, out_dim=4,
                                                              dtype=torch.float64)
    z = net[0](x)
    mean, var = z.mean(1, keepdim=True), z.var(1, unbiased=False, keepdim=True)
    torch.testing.assert_close(net(x), (z - mean) / torch.sqrt(var + 1e-5), rtol=1e-14,
                               atol=1e-14)


# --------------------------------------------------------------------------- empirical NTK


def test_layerwise_handles_pool_and_norm_and_auto_falls_back_for_branches():
    torch.manual_seed(7)
    x = torch.randn(4, 2, 8, dtype=torch.float64)
    chain = K.serial(K.Conv(3, "same", W, 0.1), K.LayerNorm(), K.Relu(), K.AvgPool(2, 1, "same"),
                     K.Conv(3), K.Relu(), K.Flatten(), K.Dense()).network(
        (2, 8), width=8, dtype=torch.float64)
    # parameter-free LayerNorm/AvgPool are pulled back by vector-Jacobian products: the same Θ
    # as the full Jacobian, to rounding
    torch.testing.assert_close(K.empirical_ntk(chain, x, method="layerwise"),
                               K.empirical_ntk(chain, x, method="jacobian"), rtol=1e-12,
                               atol=1e-12)
    res = K.serial(K.Dense(W), K.residual(K.Relu(), K.Dense(W)), K.Relu(), K.Dense()).network(
        (5,), width=8, dtype=torch.float64)
    xf = torch.randn(4, 5, dtype=torch.float64)
    with pytest.raises(ValueError, match="_FanOutModule splits or merges branches"):
        K.empirical_ntk(res, xf, method="layerwise")
    torch.testing.assert_close(K.empirical_ntk(res, xf), K.empirical_ntk(res, xf,
                                                                        method="jacobian"),
                               rtol=0, atol=0)  # "auto" is the jacobian path here


# --------------------------------------------------------------------------- bad input


def test_fan_in_sum_of_different_shapes():
    arch = K.serial(K.Conv(3), K.FanOut(2), K.parallel(K.Conv(3, "valid"), K.Conv(3)),
                    K.FanInSum(), K.Flatten(), K.Dense())
    with pytest.raises(ValueError, match=r"FanInSum\(\).*same shape; branch 0 has \(width, 6\), "
                                         r"branch 1 has \(width, 8\)"):
        arch.kernel(np.ones((2, 1, 8)))
    # a Dense branch against the raw input: width features against 5
    with pytest.raises(ValueError, match=r"branch 0 has \(width\), branch 1 has \(5\)"):
        K.residual(K.Dense()).kernel(np.ones((2, 5)))


def test_parallel_branch_count_differs_from_fan_out():
    arch = K.serial(K.Dense(), K.FanOut(3), K.parallel(K.Relu(), K.Erf()), K.FanInConcat(),
                    K.Dense())
    with pytest.raises(ValueError, match=r"parallel\(.*parallel has 2 branches but receives 3"):
        arch.kernel(np.ones((2, 4)))
    with pytest.raises(ValueError, match="parallel has 2 branches but receives 3"):
        arch.network((4,), width=3)


def test_pool_window_larger_than_the_signal():
    arch = K.serial(K.Conv(3), K.AvgPool(9, padding="same"), K.Flatten(), K.Dense())
    with pytest.raises(ValueError, match=r"layer 1 \(AvgPool\(window=9.*larger than the signal "
                                         r"\(8,\)"):
        arch.kernel(np.ones((2, 1, 8)))
    with pytest.raises(ValueError, match="larger than the signal"):
        arch.network((1, 8), width=2)


def test_layer_norm_on_a_one_element_feature_axis():
    with pytest.raises(ValueError, match=r"LayerNorm.*single feature.*use width ≥ 2"):
        K.serial(K.Dense(), K.LayerNorm(), K.Dense()).network((4,), width=1)
    with pytest.raises(ValueError, match=r"LayerNorm.*single channel"):
        K.serial(K.Conv(3), K.LayerNorm(), K.GlobalAvgPool(), K.Dense()).network((2, 6), width=1)


def test_non_gaussian_inputs_raise_like_neural_tangents():
    with pytest.raises(ValueError, match=r"layer 2 \(Relu\(\)\): its input is not Gaussian"):
        K.serial(K.Dense(), K.Relu(), K.Relu(), K.Dense()).kernel(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"LayerNorm needs a Gaussian input"):
        K.serial(K.Dense(), K.Relu(), K.LayerNorm(), K.Dense()).kernel(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"layer 3 \(Relu\(\)\): its input is not Gaussian"):
        K.serial(K.Conv(3), K.Relu(), K.AvgPool(2), K.Relu(), K.Flatten(),
                 K.Dense()).kernel(np.ones((2, 1, 8)))
    with pytest.raises(ValueError, match="its input is not Gaussian"):  # after a concatenation
        K.serial(K.Dense(), K.FanOut(2), K.parallel(K.Dense(), K.Dense()), K.FanInConcat(),
                 K.Relu(), K.Dense()).kernel(np.ones((2, 3)))
    # branches without a Dense/Conv of their own are correlated: x + x is 4Σ, not 2Σ
    with pytest.raises(ValueError, match=r"branches \[0, 1\] have no Dense/Conv of their own"):
        K.serial(K.Dense(), K.FanOut(2), K.parallel(K.Identity(), K.Identity()), K.FanInSum(),
                 K.Dense()).kernel(np.ones((2, 3)))


def test_branch_structure_errors():
    with pytest.raises(ValueError, match="ends with 2 branches; merge them"):
        K.serial(K.Dense(), K.FanOut(2)).kernel(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"layer 2 \(Dense.*receives 2 branches"):
        K.serial(K.Dense(), K.FanOut(2), K.Dense()).kernel(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"FanInSum\(\)\): it needs branches; split"):
        K.serial(K.Dense(), K.FanInSum()).kernel(np.ones((2, 3)))
    with pytest.raises(ValueError, match="readout .* is inside a branch"):
        K.serial(K.Dense(), K.residual(K.Relu(), K.Dense())).network((3,), width=4)
    with pytest.raises(ValueError, match="padding must be one of"):
        K.AvgPool(2, padding="reflect")
    with pytest.raises(ValueError, match="over must be one of 'channels', 'all'"):
        K.LayerNorm(over="batch")
    with pytest.raises(ValueError, match="window must be a positive int"):
        K.AvgPool(0)
    with pytest.raises(ValueError, match="FanOut|n must be"):
        K.FanOut(0)


def test_spec_grammar_for_the_new_layers():
    by_spec = K.parse_spec("dense residual(relu dense(w=1.4)) relu avgpool(3,1,same) dense")
    assert repr(by_spec) == repr(K.serial(K.Dense(), K.residual(K.Relu(), K.Dense(1.4)),
                                          K.Relu(), K.AvgPool(3, 1, "same"), K.Dense()))
    spec = "conv(3) fanout(2) parallel(relu conv(3), erf conv(5)) concat layernorm(all) gap dense"
    want = K.serial(K.Conv(3), K.FanOut(2), K.parallel(K.serial(K.Relu(), K.Conv(3)),
                                                       K.serial(K.Erf(), K.Conv(5))),
                    K.FanInConcat(), K.LayerNorm("all"), K.GlobalAvgPool(), K.Dense())
    assert repr(K.parse_spec(spec)) == repr(want)
    with pytest.raises(ValueError, match="residual.*needs layers inside"):
        K.parse_spec("dense residual() dense")
    with pytest.raises(ValueError, match="unbalanced parentheses"):
        K.parse_spec("dense residual(relu dense")
    with pytest.raises(ValueError, match="takes numbers, names or key=value, not layers"):
        K.parse_spec("dense(relu dense(w=2)) dense")


def test_cosine_kernel_of_a_residual_mlp_is_its_kernel_on_the_sphere():
    arch = K.serial(K.Dense(W, 0.1), K.residual(K.Relu(), K.Dense(W, 0.1)), K.LayerNorm(),
                    K.Relu(), K.Dense())
    rng = np.random.default_rng(9)
    x = rng.standard_normal((6, 5))
    x = x / np.linalg.norm(x, axis=1, keepdims=True) * np.sqrt(5)  # |x|² = d
    c = np.clip(x @ x.T / 5, -1, 1)
    np.fill_diagonal(c, 1.0)
    got = K.cosine_kernel(arch, d=5)(c)
    # two routes to the same recursion (cosines from a matmul vs given), so rounding only
    torch.testing.assert_close(got, arch.kernel(x).ntk, rtol=1e-12, atol=1e-13)
