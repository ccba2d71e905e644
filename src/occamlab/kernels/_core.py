"""The layer algebra: one description gives the infinite-width kernels and the finite network.

A :class:`Layer` knows three things: the output shape for an input shape, how it maps the kernel
state (:class:`State`), and which ``torch.nn.Module`` it is at finite width. :func:`serial`
composes layers; :meth:`Serial.kernel` runs the kernel recursion (Lee et al. 2019, arXiv
1902.06720, Eq. 7; Novak et al. 2019, arXiv 1810.05148, for convolutions) blocked over pairs of
inputs, and :meth:`Serial.network` builds the matching network in NTK parameterization.

Conventions are those of neural-tangents (``stax``), so the numbers agree with it: kernels are
averaged over channels, a convolution's fan-in is channels × taps, ``Flatten`` averages the
per-position kernels, ``GlobalAvgPool`` averages over all pairs of positions.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import torch
from torch import nn

from occamlab._check import check_choice, check_int
from occamlab._cosine import check_kind
from occamlab._progress import track
from occamlab._result import Result
from occamlab._torch import as_tensor, batch_slices, make_generator, num_threads

__all__ = ["Layer", "State", "Flow", "Serial", "serial", "KernelResult", "cosine_kernel",
           "PARAMETERIZATIONS"]

#: the parameterizations :meth:`Serial.network` builds.
PARAMETERIZATIONS = ("ntk", "standard", "mup")

# Entries of one block's NNGP array that ``batch_size=None`` aims for: 2**16 float64 entries
# (512 KiB) keep the dozen elementwise passes of an activation in cache (several times faster
# than one 2000 × 2000 block: benchmarks/RESULTS.md, "Quality pass"). Blocks of at least 16
# inputs bound Python overhead, unless that would pass 2**22 entries (32 MiB) per array
# (position pairs of large images).
_AUTO_BLOCK_ENTRIES = 1 << 16
_MAX_BLOCK_ENTRIES = 1 << 22
_MIN_AUTO_BLOCK = 16


def _auto_batch(per_pair: int) -> int:
    b = int(math.sqrt(_AUTO_BLOCK_ENTRIES / per_pair))
    if b >= _MIN_AUTO_BLOCK:
        return b
    return max(1, min(_MIN_AUTO_BLOCK, int(math.sqrt(_MAX_BLOCK_ENTRIES / per_pair))))


@dataclass(frozen=True)
class State:
    """The kernel between two blocks of inputs at one layer: lean, four arrays and a flag.

    ``P`` is the number of spatial positions (1 for flat features). With ``full=False`` only
    same-position covariances are kept (all a stride-1 convolution, an activation or ``Flatten``
    ever reads); with ``full=True`` every pair of positions is kept, which only a later
    ``GlobalAvgPool`` needs.

    Attributes:
        nngp: (b1, b2, P) or (b1, b2, P, P) covariance between the blocks.
        ntk: same shape, or ``None`` when only the NNGP is wanted.
        var1: (b1, P) or (b1, P, P): each input of block 1 with itself.
        var2: the same for block 2 (the same object as ``var1`` on a diagonal block).
        spatial: spatial shape, ``()`` for flat features.
        full: whether position pairs are kept.
        same: index pairs (i, j) of identical inputs of the two blocks, or ``None``: their
            kernel is carried from ``var1`` after every layer (see :meth:`Serial.kernel_step`).
    """

    nngp: torch.Tensor
    ntk: torch.Tensor | None
    var1: torch.Tensor
    var2: torch.Tensor
    spatial: tuple[int, ...]
    full: bool
    same: tuple[torch.Tensor, torch.Tensor] | None = None

    def replace(self, **kw) -> State:
        return dataclasses.replace(self, **kw)

    def q1(self) -> torch.Tensor:
        """(b1, P) per-position variances of block 1."""
        return self.var1.diagonal(dim1=-2, dim2=-1) if self.full else self.var1

    def q2(self) -> torch.Tensor:
        return self.var2.diagonal(dim1=-2, dim2=-1) if self.full else self.var2


def _count(channels: tuple[int, int]) -> str:
    a, b = channels
    width = "width" if a == 1 else f"{a}·width"
    return str(b) if a == 0 else (width if b == 0 else f"{width} + {b}")


@dataclass(frozen=True)
class Flow:
    """What the static pass over an architecture (:meth:`Layer.infer`) knows about one tensor.

    Attributes:
        shape: per-example shape as the kernel sees it (channel axis first; its size is the
            input's, since the kernel is averaged over channels).
        channels: ``(a, b)``: the finite network has ``a·width + b`` channels (features).
        gaussian: zero-mean Gaussian at infinite width, so an activation or a layer norm may
            act on it (neural-tangents' ``is_gaussian``): made by Dense/Conv, kept by linear
            maps and layer norm, lost by an activation.
        fresh: independent of the other branches of the enclosing ``FanOut`` and of zero mean
            given them (it passed a Dense/Conv of its own), so a sum's cross-covariances vanish.
    """

    shape: tuple[int, ...]
    channels: tuple[int, int]
    gaussian: bool
    fresh: bool

    def replace(self, **kw) -> Flow:
        return dataclasses.replace(self, **kw)

    def describe(self) -> str:
        """The finite shape, e.g. ``(width, 40)``."""
        return "(" + ", ".join([_count(self.channels), *map(str, self.shape[1:])]) + ")"


class Layer:
    """Base class of every layer. Subclasses implement ``out_shape``, ``kernel_step``, ``module``.

    Shapes here exclude the batch axis: ``(d,)`` for flat features, ``(C, W)`` or ``(C, H, W)``
    for signals and images (PyTorch layout). Between ``FanOut`` and ``FanInSum``/``FanInConcat``
    the state is a tuple with one entry per branch (of flows, states, shapes and tensors alike).
    """

    #: how the layer treats position pairs: "keep", "flatten" (needs only same-position
    #: covariances) or "pool" (needs all pairs).
    reduces: str = "keep"
    #: whether the layer consumes branches (a tuple from ``FanOut``) rather than one input.
    takes_branches: bool = False

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:  # pragma: no cover
        raise NotImplementedError

    def infer(self, flow: Flow) -> Flow:
        """The output's :class:`Flow`; raises ``ValueError`` for an input the layer cannot take.

        The default is a linear map without parameters: only the shape changes.
        """
        return flow.replace(shape=self.out_shape(flow.shape))

    def needs_pairs(self) -> bool | None:
        """Whether the kernel must carry all position pairs here (``True``), drops the spatial
        axes without needing them (``False``) or neither (``None``: ask the next layer)."""
        return {"pool": True, "flatten": False}.get(self.reduces)

    def kernel_step(self, st: State) -> State:  # pragma: no cover
        raise NotImplementedError

    def module(self, shape: tuple[int, ...], width: int, out: int | None,
               generator: torch.Generator, dtype: torch.dtype, device: torch.device,
               parameterization: str = "ntk") -> tuple[nn.Module, tuple[int, ...]]:
        """The finite layer for input ``shape``; ``out`` overrides ``width`` for a readout.

        ``parameterization`` ("ntk", "standard", "mup"; see :meth:`Serial.network`) only
        matters to layers with parameters; see :meth:`supports`.
        """
        raise NotImplementedError  # pragma: no cover

    def supports(self, parameterization: str) -> bool:
        """Whether :meth:`module` can build this layer in ``parameterization``: any for a layer
        without parameters, only "ntk" unless a layer with a width says otherwise."""
        return parameterization == "ntk" or not self.has_width

    @property
    def has_width(self) -> bool:
        """Whether the layer has a width (Dense, Conv) that ``network`` sets."""
        return False

    # A single layer is an architecture too.
    def kernel(self, x1, x2=None, batch_size=None, **kw) -> KernelResult:
        return serial(self).kernel(x1, x2, batch_size, **kw)

    def network(self, in_shape, width, seed=0, **kw) -> nn.Module:
        return serial(self).network(in_shape, width, seed, **kw)


@dataclass(frozen=True, repr=False)
class KernelResult(Result):
    """NNGP and NTK between two sets of inputs.

    Attributes:
        nngp: (n1, n2) the infinite-width output covariance Σ(x1, x2).
        ntk: (n1, n2) the neural tangent kernel Θ(x1, x2), or ``None`` if not computed.
    """

    nngp: torch.Tensor
    ntk: torch.Tensor | None

    def plot(self, ax=None, kind: str = "ntk", order=None):
        """Heat map of ``kind`` ("ntk" or "nngp"), rows/columns permuted by ``order``."""
        import matplotlib.pyplot as plt

        k = getattr(self, check_kind(kind))
        if k is None:
            raise ValueError(f"this result has no {kind}")
        k = k.detach().cpu()
        if order is not None:
            order = torch.as_tensor(order)
            k = k[order][:, order] if k.shape[0] == k.shape[1] else k[order]
        if ax is None:
            _, ax = plt.subplots(figsize=(4, 3.5))
        im = ax.imshow(k.numpy(), cmap="viridis", interpolation="nearest")
        ax.figure.colorbar(im, ax=ax, shrink=0.8)
        ax.set_title(kind.upper())
        return ax


def _as_layers(layers: Sequence[Layer]) -> list[Layer]:
    out: list[Layer] = []
    for i, layer in enumerate(layers):
        if isinstance(layer, Serial):
            out.extend(layer.layers)
        elif isinstance(layer, Layer):
            out.append(layer)
        elif isinstance(layer, type) and issubclass(layer, Layer):
            raise TypeError(f"layer {i} is the class {layer.__name__}; call it: "
                            f"{layer.__name__}()")
        else:
            raise TypeError(f"layer {i} must be a kernels Layer, got {type(layer).__name__}")
    return out


def _run_blocks(fn: Callable[[tuple[int, int]], None], pairs: list[tuple[int, int]],
                device: torch.device, progress: bool) -> None:
    """Run ``fn`` on every block pair: on CPU, blocks in parallel threads, each op single-threaded.

    A block is cache-sized, so splitting each of its elementwise ops over cores gains little and
    costs a thread barrier per op, which costs more than the op.
    Parallelism over blocks instead (torch releases the GIL inside ops) keeps every core busy
    without barriers. Outputs of different blocks never overlap.
    """
    bar = dict(description="kernel blocks", total=len(pairs), enabled=progress and len(pairs) > 1)
    threads = torch.get_num_threads()
    workers = min(threads, len(pairs)) if device.type == "cpu" else 1
    if workers <= 1:
        for p in track(pairs, **bar):
            fn(p)
        return
    with num_threads(1), ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(fn, p) for p in pairs]
        try:
            for f in track(as_completed(futures), **bar):
                f.result()
        except BaseException:  # on an error or Ctrl-C, drop the queued blocks
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _identical_rows(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index pairs (i, j) with ``a[i] == b[j]`` exactly (the diagonal of a self-kernel block).

    Only nearly parallel pairs (cosine ≥ 1 − 1e-3 by one matmul) are compared entry by entry.
    """
    fa, fb = a.flatten(1), b.flatten(1)
    na, nb = (fa * fa).sum(1), (fb * fb).sum(1)
    near = (fa @ fb.T) >= (1 - 1e-3) * torch.sqrt(na[:, None] * nb[None, :])
    i, j = near.nonzero(as_tuple=True)
    same = (fa[i] == fb[j]).all(1)
    return i[same], j[same]


def _input_kernel(x1: torch.Tensor, x2: torch.Tensor | None, full: bool,
                  want_ntk: bool) -> State:
    """Covariances of the raw inputs, averaged over features/channels (neural-tangents)."""
    b1 = x1.shape[0]
    spatial = tuple(x1.shape[2:])
    if not spatial:
        d = x1.shape[1]
        var1 = (x1 * x1).sum(1, keepdim=True) / d
        var2 = var1 if x2 is None else (x2 * x2).sum(1, keepdim=True) / d
        nngp = ((x1 @ (x1 if x2 is None else x2).T) / d)[..., None]
    else:
        c = x1.shape[1]
        a = x1.reshape(b1, c, -1)
        b = a if x2 is None else x2.reshape(x2.shape[0], c, -1)
        if full:
            var1 = torch.einsum("icp,icq->ipq", a, a) / c
            var2 = var1 if x2 is None else torch.einsum("icp,icq->ipq", b, b) / c
            nngp = torch.einsum("icp,jcq->ijpq", a, b) / c
        else:
            var1 = (a * a).sum(1) / c
            var2 = var1 if x2 is None else (b * b).sum(1) / c
            nngp = torch.einsum("icp,jcp->ijp", a, b) / c
    if x2 is None:  # a self-kernel block: make it exactly symmetric (matmul is not)
        perm = (1, 0, 3, 2) if nngp.ndim == 4 else (1, 0, 2)
        nngp = 0.5 * (nngp + nngp.permute(perm))
    ntk = torch.zeros_like(nngp) if want_ntk else None
    return State(nngp, ntk, var1, var2, spatial, full and bool(spatial))


def _carry_same(st):
    """Identical inputs stay identical: set their kernel from the variance's own formula, so the
    next activation sees a cosine of exactly 1 (θ = 0), not the arccos of a rounded ratio (a
    √eps error: 4e-4 in float32)."""
    if isinstance(st, tuple):
        return tuple(_carry_same(s) for s in st)
    if st.same is not None:
        i, j = st.same
        st.nngp[i, j] = st.var1[i]
    return st


class Serial(Layer):
    """Layers applied in order; made by :func:`serial`."""

    def __init__(self, *layers: Layer):
        self.layers = _as_layers(layers)
        if not self.layers:
            raise ValueError("serial() needs at least one layer")

    def __repr__(self) -> str:
        return "serial(" + ", ".join(map(repr, self.layers)) + ")"

    @property
    def has_width(self) -> bool:
        return any(layer.has_width for layer in self.layers)

    def supports(self, parameterization: str) -> bool:
        return all(layer.supports(parameterization) for layer in self.layers)

    def infer(self, flow):
        for i, layer in enumerate(self.layers):
            branched = isinstance(flow, tuple)
            try:
                if branched and not layer.takes_branches:
                    raise ValueError(f"it receives {len(flow)} branches; merge them first with "
                                     "FanInSum() or FanInConcat(), or give one layer per branch "
                                     "with parallel(...)")
                if layer.takes_branches and not branched:
                    raise ValueError("it needs branches; split the input with FanOut(n) first")
                flow = layer.infer(flow)
            except ValueError as e:
                raise ValueError(f"layer {i} ({layer!r}): {e}") from None
        return flow

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        shape = tuple(shape)
        c = shape[0] if shape else 1
        flow = self.infer(Flow(shape, (0, c), gaussian=False, fresh=False))
        if isinstance(flow, tuple):
            raise ValueError(f"the architecture ends with {len(flow)} branches; merge them with "
                             "FanInSum() or FanInConcat()")
        return flow.shape

    def needs_pairs(self) -> bool | None:
        for layer in self.layers:
            need = layer.needs_pairs()
            if need is not None:
                return need
        return None

    def kernel_step(self, st):
        for layer in self.layers:
            st = _carry_same(layer.kernel_step(st))
        return st

    def module(self, shape, width, out, generator, dtype, device, **kw):
        """The layers as one ``nn.Sequential``: a branch of :func:`parallel`, which holds no
        readout (``out`` is ``None``), so every Dense/Conv gets ``width``."""
        mods = []
        for layer in self.layers:
            mod, shape = layer.module(shape, width, None, generator, dtype, device, **kw)
            mods.append(mod)
        return nn.Sequential(*mods), shape

    def kernel(self, x1, x2=None, batch_size: int | None = None, *,
               dtype: torch.dtype | None = torch.float64, ntk: bool = True,
               progress: bool = False) -> KernelResult:
        """NNGP and NTK of this architecture at infinite width between ``x1`` and ``x2``.

        Arguments:
            x1: (n1, d), (n1, C, W) or (n1, C, H, W) inputs (tensor or NumPy array).
            x2: (n2, ...) with the same trailing shape, or ``None`` for ``x2 = x1``.
            batch_size: inputs per block; the work runs over blocks of (batch_size × batch_size)
                pairs, so memory is bounded by a block (plus the (n1, n2) outputs). ``None``
                picks a cache-sized block: 256 inputs for flat features, fewer (≥ 16) when
                position pairs are carried. With ``x2=None`` only blocks on and above the
                diagonal are computed. On CPU the blocks run in ``torch.get_num_threads()``
                parallel threads, each op single-threaded (restored afterwards).
            dtype: computation dtype (float64 by default; float32 works: the kernel of any two
                identical inputs, the diagonal included, is carried from the variance's own
                formula, so it has no √eps error).
                ``None`` keeps the input's floating dtype.
            ntk: also compute the NTK.
            progress: show a progress bar over blocks.

        Returns:
            :class:`KernelResult` with ``nngp`` and ``ntk`` of shape (n1, n2) on x1's device.
        """
        if dtype is None:
            dtype = x1.dtype if isinstance(x1, torch.Tensor) and x1.is_floating_point() \
                else torch.float64
        x1 = as_tensor(x1, "x1", dtype=dtype, ndim=(2, 3, 4))
        if x1.shape[0] == 0:
            raise ValueError(f"x1 has no inputs (shape {tuple(x1.shape)}); give at least one")
        if x2 is not None:
            x2 = as_tensor(x2, "x2", dtype=dtype, device=x1.device, ndim=(2, 3, 4))
            if x2.shape[0] == 0:
                raise ValueError(f"x2 has no inputs (shape {tuple(x2.shape)}); give at least "
                                 "one")
            if x2.shape[1:] != x1.shape[1:]:
                raise ValueError(f"x1 and x2 must have the same feature shape, got "
                                 f"{tuple(x1.shape[1:])} and {tuple(x2.shape[1:])}")
        shape = self.out_shape(tuple(x1.shape[1:]))
        if len(shape) != 1:
            raise ValueError(f"the architecture's output has spatial axes (shape {shape}); end "
                             "it with Flatten() or GlobalAvgPool() and a Dense readout")
        full = bool(self.needs_pairs())
        n1 = x1.shape[0]
        n2 = n1 if x2 is None else x2.shape[0]
        if batch_size is None:
            p = math.prod(x1.shape[2:]) if x1.ndim > 2 else 1
            per_pair = p * p if full else p
            batch_size = _auto_batch(per_pair)
        else:
            check_int(batch_size, "batch_size", ge=1)
        rows = list(batch_slices(n1, batch_size))
        cols = rows if x2 is None else list(batch_slices(n2, batch_size))
        pairs = [(i, j) for i in range(len(rows)) for j in range(len(cols))
                 if x2 is not None or j >= i]
        out_nngp = torch.empty(n1, n2, dtype=dtype, device=x1.device)
        out_ntk = torch.empty_like(out_nngp) if ntk else None
        def block(ij: tuple[int, int]) -> None:
            i, j = ij
            r, c = rows[i], cols[j]
            same = x2 is None and i == j
            xb = (x1 if x2 is None else x2)[c]
            dup_i, dup_j = _identical_rows(x1[r], xb)
            st = _input_kernel(x1[r], None if same else xb, full, ntk)
            st = self.kernel_step(st.replace(same=(dup_i, dup_j)))
            nngp_b, ntk_b = st.nngp[..., 0], (st.ntk[..., 0] if ntk else None)
            if same:  # vectorized and scalar tails of torch's math kernels may differ by an ulp
                nngp_b = 0.5 * (nngp_b + nngp_b.T)
                ntk_b = 0.5 * (ntk_b + ntk_b.T) if ntk else None
            out_nngp[r, c] = nngp_b
            if ntk:
                out_ntk[r, c] = ntk_b
            if x2 is None and i != j:
                out_nngp[c, r] = nngp_b.T
                if ntk:
                    out_ntk[c, r] = ntk_b.T

        _run_blocks(block, pairs, x1.device, progress)
        return KernelResult(nngp=out_nngp, ntk=out_ntk)

    def network(self, in_shape: Sequence[int], width: int, seed: int | None = 0, *,
                out_dim: int = 1, dtype: torch.dtype | None = None,
                device: torch.device | str = "cpu",
                generator: torch.Generator | None = None,
                parameterization: str = "ntk") -> nn.Sequential:
        """The finite network of this architecture, in NTK, standard or μP parameterization.

        In NTK parameterization (the default) every Dense/Conv computes
        ``(w_std/√fan_in)·W·x + b_std·b`` with W, b standard normal (Jacot et al. 2018, Eq. 1),
        so its empirical NTK at initialisation tends to :meth:`kernel`'s NTK as ``width`` grows
        (fluctuations ~ 1/√width). For one seed all three draw the same normals, rescaled: "ntk"
        and "standard" give the same function at initialisation, μP's readout is 1/√fan_in
        smaller (its output starts near 0); they differ in how training scales with width
        (Yang & Hu 2021, arXiv 2011.14522, §3 and §5; the fan-in form of Yang et al. 2022,
        arXiv 2203.03466, Table 3, SGD), with fan_in = features (or channels × taps) in and
        fan_out out of a layer:

        ============  =====================  ===================  ==========================
        layer         "ntk"                  "standard"           "mup"
        ============  =====================  ===================  ==========================
        weight        W ~ N(0, 1),           W ~ N(0, w²/fan_in)  W ~ N(0, w²/fan_in); the
                      times w/√fan_in                             readout N(0, w²/fan_in²)
        bias          b ~ N(0, 1), times b   b ~ N(0, b_std²)     b ~ N(0, b_std²)
        SGD LR        η everywhere           η everywhere         input weights η·fan_out,
                                                                  hidden η, readout
                                                                  η/fan_in, biases η·fan_out
        ============  =====================  ===================  ==========================

        The μP learning rates are per layer: train with
        ``torch.optim.SGD(K.mup_param_groups(net, lr))``.

        Arguments:
            in_shape: one input's shape, ``(d,)``, ``(C, W)`` or ``(C, H, W)``.
            width: output features/channels of every hidden Dense and Conv (≥ 1).
            seed: seed of the initialisation (ignored if ``generator`` is given).
            out_dim: outputs of the last Dense/Conv layer (the readout).
            dtype: parameter dtype (default: torch's default dtype).
            device: where the parameters live.
            parameterization: "ntk", "standard" or "mup" (see above); a layer with parameters
                that has no such parameterization is an error.

        Returns:
            ``torch.nn.Sequential`` mapping (N, *in_shape) to (N, out_dim).
        """
        width = check_int(width, "width", ge=1)
        check_choice(parameterization, "parameterization", PARAMETERIZATIONS)
        for i, layer in enumerate(self.layers):
            if not layer.supports(parameterization):
                raise ValueError(f"layer {i} ({layer!r}) cannot be built in "
                                 f"parameterization={parameterization!r}; only Dense and Conv "
                                 "have 'standard' and 'mup' (use parameterization='ntk')")
        out_dim = check_int(out_dim, "out_dim", ge=1)
        shape = tuple(int(s) for s in in_shape)
        if len(shape) not in (1, 2, 3) or min(shape) < 1:
            raise ValueError(f"in_shape must be (d,), (C, W) or (C, H, W) of positive sizes, "
                             f"got {tuple(in_shape)}")
        self.out_shape(shape)  # validate before building anything
        dtype = dtype or torch.get_default_dtype()
        device = torch.device(device)
        gen = make_generator(seed, generator)
        wide = [i for i, layer in enumerate(self.layers) if layer.has_width]
        last = max(wide, default=-1)
        mods = []
        for i, layer in enumerate(self.layers):
            mod, shape = layer.module(shape, width, out_dim if i == last else None, gen,
                                      dtype, device, parameterization=parameterization)
            if wide and i == wide[0] and getattr(mod, "role", "readout") != "readout":
                mod.role = "input"  # its fan-in is the data's, not the width (μP's LR rule)
            mods.append(mod)
        return nn.Sequential(*mods)


def serial(*layers: Layer) -> Serial:
    """Compose layers in order (nested ``serial`` are flattened)."""
    return Serial(*layers)


def cosine_kernel(arch: Layer, d: int, kind: str = "ntk") -> Callable[[torch.Tensor], torch.Tensor]:
    """The kernel of a fully connected ``arch`` as a function of the cosine between inputs.

    For x, x' in R^d with |x|² = |x'|² = d and c = x·x'/d, returns ``c ↦ K(x, x')`` evaluated
    exactly through the layer recursion (not by sampling inputs). Such a dot-product kernel is
    what the hypersphere theory of eigenlearning needs (Simon et al. 2023, arXiv 2110.03922).

    Arguments:
        arch: an architecture of Dense layers and activations (no Conv/pooling).
        d: the input dimension (≥ 1); under NTK parameterization the kernel depends on it only
            through |x|²/d = 1.
        kind: "ntk" or "nngp".

    Returns:
        ``K(c)``: takes a tensor/array/number of cosines in [−1, 1] (any shape) and returns a
        float64 tensor of the same shape on its device. c = 1 is carried exactly as the
        diagonal (x' = x) through every layer, and c = −1 gives the angle π exactly, so
        neither end suffers the √eps error of an arccos near ±1.
    """
    check_kind(kind)
    d = check_int(d, "d", ge=1)
    arch = serial(arch)
    shape = arch.out_shape((d,))
    if len(shape) != 1:
        raise ValueError(f"cosine_kernel needs a fully connected architecture ending in Dense; "
                         f"its output has shape {shape}")

    def k(c) -> torch.Tensor:
        c = as_tensor(c, "c", dtype=torch.float64)
        if bool(((c < -1) | (c > 1)).any()):
            raise ValueError(f"cosines must lie in [-1, 1], got range [{float(c.min())}, "
                             f"{float(c.max())}]")
        flat = c.reshape(-1, 1, 1)
        ones = torch.ones(flat.shape[0], 1, dtype=torch.float64, device=c.device)
        st = State(flat.clone(), torch.zeros_like(flat) if kind == "ntk" else None, ones,
                   ones[:1].clone(), (), False)
        # c = 1 is the diagonal x' = x: carry it exactly, so later cosines are exactly 1
        one = (flat[:, 0, 0] == 1).nonzero()[:, 0]
        st = arch.kernel_step(st.replace(same=(one, torch.zeros_like(one))))
        out = st.ntk if kind == "ntk" else st.nngp
        return out.reshape(c.shape)

    return k

