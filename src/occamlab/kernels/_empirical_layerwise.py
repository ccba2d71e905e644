"""The layerwise path of the empirical NTK: structured derivatives, no full Jacobian.

For a chain of layers z = s_w·(W ⋆ h) + s_b·b (``nn.Linear``, ``nn.Conv1d``/``nn.Conv2d``, or
occamlab's own NTK-parameterized Dense/Conv) separated by parameter-free modules, the Jacobian of
layer l is ∂f_o/∂W = s_w·Σ_p g_{o,p} ⊗ h_p, with h_p the layer input (a patch, for a conv) at
output position p and g_o = ∂f_o/∂z the output signal backpropagated to that layer. Its share of
the NTK is therefore a product of Grams,

    Θ_l(x, x')_{oo'} = Σ_{p,q} (g_{o,p}(x)·g_{o',q}(x'))·(s_w²·h_p(x)·h_q(x') + s_b²),

the structure that neural-tangents' implementation 3 exploits (Novak, Sohl-Dickstein, Schoenholz
2022, "Fast Finite Width Neural Tangent Kernel", arXiv 2206.08720, §4). Signals are pushed back
through activations as products with φ'(z) and through any other parameter-free module by a
vector-Jacobian product. Private: used by :mod:`occamlab.kernels._empirical`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Step", "dense_contract", "gram_rows", "layerwise_factor", "layerwise_plan",
           "layerwise_sizes", "own_modules", "use_gradients"]

# Parameter-free modules known to act elementwise: their backward is a product with φ'(z),
# computed once per block instead of once per output. Any other parameter-free module is still
# handled, through a vector-Jacobian product for each output.
_ELEMENTWISE = (
    nn.Identity, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Softsign, nn.Hardtanh, nn.Hardsigmoid,
    nn.Hardswish, nn.LogSigmoid, nn.Tanhshrink, nn.Softshrink, nn.Hardshrink, nn.Threshold,
)

_ELEMENTWISE_FORWARDS = {c.forward for c in _ELEMENTWISE}


def gram_rows(j1: torch.Tensor, j2: torch.Tensor, trace: bool) -> torch.Tensor:
    """Contract per-sample rows j1 (a, O, D), j2 (b, O, D) over D: (a, b) traced or (a, b, O, O)."""
    a, o, _ = j1.shape
    b = j2.shape[0]
    if trace:
        # Σ_o Σ_d j1[a,o,d]·j2[b,o,d] is one product over the flattened (o, d) axis.
        return j1.reshape(a, -1) @ j2.reshape(b, -1).T
    g = j1.reshape(a * o, -1) @ j2.reshape(b * o, -1).T
    return g.reshape(a, o, b, o).permute(0, 2, 1, 3)


@dataclass
class Step:
    module: nn.Module
    kind: str  # "linear", "conv", "elementwise", "fixed" (any other parameter-free module)
    weight: bool = False  # the weight is trainable
    bias: bool = False  # there is a trainable bias
    w_scale: float = 1.0  # z = w_scale·(W ⋆ h) + b_scale·b (NTK parameterization scales)
    b_scale: float = 1.0
    # conv geometry: F.pad amounts (last axis first), pad mode, taps, dilation, stride
    pads: tuple[int, ...] = ()
    mode: str = "constant"
    taps: tuple[int, ...] = ()
    dilation: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()


def own_modules() -> tuple[type | None, type | None, type | None]:
    """occamlab's own NTK-parameterized layers (``arch.network``), imported late: no cycle.

    Their Dense/Conv compute (w_std/√fan_in)·(W ⋆ h) + b_std·b with attributes ``scale``,
    ``b_std`` (and ``taps``, ``padding`` for Conv); their activations are elementwise.
    """
    from occamlab.kernels import _activations as activations
    from occamlab.kernels import _layers as layers

    return (getattr(layers, "_DenseModule", None), getattr(layers, "_ConvModule", None),
            getattr(activations, "_ActModule", None))


def _dense_step(m: nn.Module) -> Step | None:
    """The step for a layer whose output is w_scale·(W ⋆ h) + b_scale·b, else ``None``."""
    dense_cls, conv_cls, _ = own_modules()
    weight = m.weight.requires_grad
    bias = getattr(m, "bias", None) is not None and m.bias.requires_grad
    plain = (nn.Linear.forward, nn.Conv1d.forward, nn.Conv2d.forward)
    if type(m) is dense_cls:
        return Step(m, "linear", weight, bias, w_scale=m.scale, b_scale=m.b_std)
    if type(m) is conv_cls:
        pads: list[int] = []
        if m.padding != "valid":
            for k in reversed(m.taps):  # the module's own 'same' split: the extra tap goes last
                pads += [(k - 1) // 2, k - 1 - (k - 1) // 2]
        ones = (1,) * len(m.taps)
        return Step(m, "conv", weight, bias, w_scale=m.scale, b_scale=m.b_std, pads=tuple(pads),
                     mode="circular" if m.padding == "circular" else "constant",
                     taps=tuple(m.taps), dilation=ones, stride=ones)
    # Subclasses that change forward (e.g. a rescaled weight) are not the plain layer.
    if type(m).forward not in plain:
        return None
    if isinstance(m, nn.Linear):
        return Step(m, "linear", weight, bias)
    # _reversed_padding_repeated_twice is what nn.Conv itself pads with ('same' included).
    return Step(m, "conv", weight, bias, pads=tuple(m._reversed_padding_repeated_twice),
                 mode="constant" if m.padding_mode == "zeros" else m.padding_mode,
                 taps=tuple(m.kernel_size), dilation=tuple(m.dilation), stride=tuple(m.stride))


def _leaves(model: nn.Module) -> Iterator[nn.Module]:
    # A subclass with its own forward is not a plain chain: it stays a leaf.
    if isinstance(model, nn.Sequential) and type(model).forward is nn.Sequential.forward:
        for m in model:
            yield from _leaves(m)
    else:
        yield model


def layerwise_plan(model: nn.Module) -> tuple[list[Step] | None, str]:
    """The chain of steps for the layerwise path, or ``None`` and the reason it does not apply."""
    steps: list[Step] = []
    seen: set[int] = set()
    for m in _leaves(model):
        if getattr(m, "branching", False):  # occamlab's FanOut/parallel/FanIn modules
            return None, (f"{type(m).__name__} splits or merges branches (a residual or parallel "
                          "block); the layerwise path handles single chains")
        trainable = [p for p in m.parameters() if p.requires_grad]
        if not trainable:
            plain = (isinstance(m, _ELEMENTWISE) and type(m).forward in _ELEMENTWISE_FORWARDS
                     or type(m) is own_modules()[2])
            steps.append(Step(m, "elementwise" if plain else "fixed"))
            continue
        if any(id(p) in seen for p in trainable):
            return None, (f"a {type(m).__name__} shares parameters with an earlier layer (or is "
                          "used twice); the layer-by-layer sum would miss their cross terms")
        seen.update(id(p) for p in trainable)
        if isinstance(m, nn.Conv1d | nn.Conv2d) and m.groups != 1:
            return None, (f"{type(m).__name__} with groups={m.groups} is not handled "
                          "(needs groups=1)")
        step = _dense_step(m) if isinstance(getattr(m, "weight", None), torch.Tensor) else None
        if step is None:
            where = ("it has a custom forward" if m is model else "it is inside the chain")
            return None, (
                f"it handles nn.Sequential chains of nn.Linear, nn.Conv1d, nn.Conv2d, "
                f"occamlab's own Dense/Conv and parameter-free modules; {type(m).__name__} has "
                f"trainable parameters and {where}"
            )
        steps.append(step)
    covered = sum(1 for s in steps for p in s.module.parameters() if p.requires_grad)
    if covered != sum(1 for p in model.parameters() if p.requires_grad):
        return None, (f"{type(model).__name__} has trainable parameters outside its layers "
                      "(registered on a container)")
    return steps, ""


def _patches(s: Step, a: torch.Tensor) -> torch.Tensor:
    """Input patches of a conv step at each output position: (n, P, C_in·taps)."""
    if any(s.pads):
        a = F.pad(a, list(s.pads), mode=s.mode)
    k, d, st = s.taps, s.dilation, s.stride
    if len(k) == 1:  # unfold is 2-D only: a 1-D signal is an image of height 1
        a, k, d, st = a.unsqueeze(2), (1, *k), (1, *d), (1, *st)
    return F.unfold(a, k, dilation=d, stride=st).transpose(1, 2)


def _pullback(module: nn.Module, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Signals g (n, O, *out_shape) at the output of ``module`` → at its input (n, O, *a_shape)."""
    # Plain autograd on the input repeated once per output (torch.func would cost seconds of
    # imports on first use): the O vector-Jacobian products become one backward pass.
    n, o = g.shape[:2]
    rep = a.detach().repeat_interleave(o, 0).requires_grad_(True)
    with torch.enable_grad():
        y = module(rep)
        (gin,) = torch.autograd.grad(y, rep, g.reshape(n * o, *g.shape[2:]))
    return gin.reshape(n, o, *a.shape[1:])


def _is_relu(module: nn.Module) -> bool:
    """nn.ReLU, or occamlab's own ReLU module (whose function is ``torch.relu`` too)."""
    if type(module) is nn.ReLU:
        return True
    act_cls = own_modules()[2]
    if act_cls is None or type(module) is not act_cls:
        return False
    from occamlab.kernels._activations import Relu

    return type(module.act) is Relu


def _derivative(module: nn.Module, a: torch.Tensor) -> torch.Tensor:
    """φ'(a) of an elementwise module, same shape as a."""
    if _is_relu(module):
        # torch.relu's own backward rule (gradient 0 at 0), without an autograd pass; the
        # boolean mask multiplies as 0/1.
        return a > 0
    a = a.detach().requires_grad_(True)
    with torch.enable_grad():
        y = module(a)
        return torch.autograd.grad(y, a, torch.ones_like(y))[0]


def layerwise_sizes(steps: list[Step], x: torch.Tensor, out: int, trace: bool
                    ) -> tuple[int, int]:
    """Elements stored per sample, and per pair of samples, by the layerwise path.

    From one forward pass over a single sample (shapes only): the signals G and inputs H of
    each dense step; per layer with positions, either per-sample weight gradients or products
    over pairs of positions, whichever order :func:`dense_contract` will pick.
    """
    shapes, a = [], x[:1]
    with torch.no_grad():
        for s in steps:
            y = s.module(a)
            if s.kind == "linear":
                k, c = a.shape[-1], y.shape[-1]
                shapes.append((a[0].numel() // k, c, k))
            elif s.kind == "conv":
                c = y.shape[1]
                shapes.append((y[0].numel() // c, c, a.shape[1] * math.prod(s.taps)))
            a = y
    o_eff = out if trace else out * out
    per_sample, per_pair = 0, o_eff
    for p, c, k in shapes:
        per_sample += out * p * c + p * k
        if p > 1 and use_gradients(o_eff, c, k, p, p):
            per_sample += out * c * (k + 1)
        elif p > 1:
            per_pair = max(per_pair, p * p * o_eff)
    return per_sample, per_pair


def layerwise_factor(steps: list[Step], out: int
                      ) -> Callable[[torch.Tensor], list[tuple[Step, torch.Tensor, torch.Tensor]]]:
    """Per block: for each dense step, (step, H (n, P, K) inputs, G (n, O, P, C) signals)."""
    first = next(i for i, s in enumerate(steps) if s.kind in ("linear", "conv"))

    def factor(x: torch.Tensor) -> list[tuple[Step, torch.Tensor, torch.Tensor]]:
        inputs, a = [], x
        with torch.no_grad():
            for s in steps:
                inputs.append(a)
                a = s.module(a)
            n = x.shape[0]
            eye = torch.eye(out, dtype=a.dtype, device=a.device)
            g = eye.reshape(out, *a.shape[1:]).unsqueeze(0).expand(n, *([-1] * a.ndim))
            found = []
            for i in range(len(steps) - 1, first - 1, -1):
                s, a = steps[i], inputs[i]
                m = s.module
                if s.kind == "linear":
                    found.append((s, a.reshape(n, -1, a.shape[-1]),
                                  g.reshape(n, out, -1, g.shape[-1])))
                    if i == first:
                        break
                    g = torch.matmul(g, m.weight)
                    if s.w_scale != 1.0:
                        g.mul_(s.w_scale)
                elif s.kind == "conv":
                    found.append((s, _patches(s, a),
                                  g.reshape(n, out, g.shape[2], -1).transpose(2, 3)))
                    if i == first:
                        break
                    g = _pullback(m, a, g)
                elif s.kind == "elementwise":
                    g = g * _derivative(m, a).unsqueeze(1)
                else:
                    g = _pullback(m, a, g)
        return found

    return factor


def use_gradients(o: int, c: int, k: int, p: int, q: int) -> bool:
    """Two exact orders of the same sum over positions; pick the cheaper per pair of samples.

    Per-sample weight gradients Σ_p g_p ⊗ h_p then their Gram cost about O·C·K; Grams over
    position pairs cost P·Q·(O·C + K). (O: outputs, or O² untraced; C, K: output and input sizes
    of the layer; P, Q: positions.)
    """
    return o * c * (k + 1) < p * q * (o * c + k)


def dense_contract(s: Step, h1: torch.Tensor, g1: torch.Tensor, h2: torch.Tensor,
                    g2: torch.Tensor, trace: bool) -> torch.Tensor:
    """One dense layer's share of Θ between two blocks (see the module docstring)."""
    a, o, p, c = g1.shape
    b, _, q, _ = g2.shape
    k = h1.shape[-1]
    w = s.w_scale**2 if s.weight else 0.0
    bias = s.b_scale**2 if s.bias else 0.0
    if p == 1 and q == 1:
        # Few, fused operations: on a busy machine each one costs a thread wake-up.
        hh = torch.addmm(h1.new_tensor(bias).expand(a, b), h1[:, 0], h2[:, 0].T, alpha=w)
        gg = gram_rows(g1[:, :, 0], g2[:, :, 0], trace)
        return gg.mul_(hh) if trace else gg * hh[:, :, None, None]
    if use_gradients(o if trace else o * o, c, k, p, q):
        def grads(g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
            parts = []
            if s.weight:
                parts.append(torch.einsum("nopc,npk->nock", g, h).flatten(2) * s.w_scale)
            if s.bias:
                parts.append(g.sum(2) * s.b_scale)
            return torch.cat(parts, dim=2)
        return gram_rows(grads(g1, h1), grads(g2, h2), trace)
    hh = (h1.reshape(a * p, k) @ h2.reshape(b * q, k).T).reshape(a, p, b, q) * w + bias
    if trace:
        gg = g1.transpose(1, 2).reshape(a * p, o * c) @ g2.transpose(1, 2).reshape(b * q, o * c).T
        return (gg.reshape(a, p, b, q) * hh).sum((1, 3))
    gg = (g1.reshape(a * o * p, c) @ g2.reshape(b * o * q, c).T).reshape(a, o, p, b, o, q)
    return torch.einsum("aipbjq,apbq->abij", gg, hh)
