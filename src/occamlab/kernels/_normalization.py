"""Layer normalization, ``LayerNorm``: each input's features divided by their own spread.

The finite layer computes ``(z − mean(z))/√(var(z) + eps)`` over the normalized axes, without
a learned scale or shift (Ba, Kiros, Hinton 2016, arXiv 1607.06450, Eq. 4). At infinite width,
after a Dense/Conv, the mean over the channels vanishes and the variance concentrates at the
covariance's own diagonal, so the kernel is divided by the variances of the two inputs:

    Σ'(x, x') = Σ(x, x') / √((eps + q(x))·(eps + q(x'))),   Θ' = Θ / √(…) likewise

(neural-tangents ``stax.LayerNorm``). What q is depends on ``over``:

- ``"channels"`` (the default, neural-tangents' ``LayerNorm(axis=-1)``): every position of a
  signal is normalized over its channels on its own; q(x) is the variance at that position,
  Σ(x, x)_{pp}. For flat features, over the features.
- ``"all"``: channels and positions together (``nn.LayerNorm((C, W))``; neural-tangents'
  ``axis=(1, …, -1)`` in channels-last layout); q(x) is the mean over positions of Σ(x, x)_{pp}.

The input must be Gaussian (a Dense or Conv right before, possibly through linear maps): after
an activation the features have a non-zero mean that the centring removes, which this kernel
does not follow (neural-tangents raises too). The output stays Gaussian, so an activation may
follow.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from occamlab._check import check_choice, check_real
from occamlab.kernels._core import Flow, Layer, State

__all__ = ["LayerNorm"]

_OVER = ("channels", "all")


class LayerNorm(Layer):
    """Layer normalization without learned scale and shift (see the module docstring).

    Arguments:
        over: "channels" (each position over its channels, neural-tangents' default
            ``axis=-1``) or "all" (channels and positions together).
        eps: added to the variance (neural-tangents' default 1e-12), in the kernel and the
            finite layer alike.
    """

    def __init__(self, over: str = "channels", eps: float = 1e-12):
        self.over = check_choice(over, "over", _OVER)
        self.eps = check_real(eps, "eps", ge=0.0)

    def __repr__(self) -> str:
        return f"LayerNorm(over={self.over!r}, eps={self.eps:g})"

    def out_shape(self, shape):
        return shape

    def infer(self, flow: Flow) -> Flow:
        if not flow.gaussian:
            raise ValueError("LayerNorm needs a Gaussian input (a Dense or Conv before it, with "
                             "no activation in between): after an activation the features have "
                             "a non-zero mean whose removal the infinite-width kernel does not "
                             "follow")
        return flow

    def kernel_step(self, st: State) -> State:
        eps = self.eps
        q1, q2 = st.q1(), st.q2()  # (b, P) per-position variances
        if self.over == "all":
            q1, q2 = q1.mean(-1, keepdim=True), q2.mean(-1, keepdim=True)
        r1, r2 = (q1 + eps).rsqrt(), (q2 + eps).rsqrt()

        def scale(t: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            # t: (b1, b2, P[, P]) between the blocks; a (b1, P), b (b2, P) broadcast over pairs
            if st.full:
                return t * a[:, None, :, None] * b[None, :, None, :]
            return t * a[:, None, :] * b[None, :, :]

        def own(var: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
            return var * r[:, :, None] * r[:, None, :] if st.full else var * r * r

        var1 = own(st.var1, r1)
        return st.replace(nngp=scale(st.nngp, r1, r2),
                          ntk=None if st.ntk is None else scale(st.ntk, r1, r2),
                          var1=var1, var2=var1 if st.var2 is st.var1 else own(st.var2, r2))

    def module(self, shape, width, out, generator, dtype, device, **kw):
        shape = tuple(shape)
        n = shape[0] if self.over == "channels" else math.prod(shape)
        if n < 2:
            raise ValueError(f"LayerNorm over a single {'channel' if len(shape) > 1 else 'feature'}"
                             f" (input shape {shape}) always outputs 0; use width ≥ 2")
        if self.over == "all" or len(shape) == 1:
            return nn.LayerNorm(shape if self.over == "all" else shape[0], eps=self.eps,
                                elementwise_affine=False, device=device, dtype=dtype), shape
        return _ChannelNorm(self.eps), shape


class _ChannelNorm(nn.Module):
    """Layer norm over the channel axis (1) of (N, C, *spatial), at every position."""

    def __init__(self, eps: float):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x.movedim(1, -1), (x.shape[1],), eps=self.eps)
        return y.movedim(-1, 1)

    def extra_repr(self) -> str:
        return f"over channels, eps={self.eps:g}"
