"""Branches: ``FanOut``, ``parallel``, ``FanInSum``, ``FanInConcat`` and ``residual``.

Between ``FanOut(n)`` and a fan-in the state is a tuple with one entry per branch (kernel
states, shapes of the finite network and its tensors alike), as in neural-tangents' ``stax``:

- ``FanOut(n)``: n copies of the input.
- ``parallel(f₁, …, fₙ)``: branch i goes through fᵢ.
- ``FanInSum()``: z = Σᵢ zᵢ. At infinite width the branches' cross-covariances vanish when
  every branch but at most one passed a Dense/Conv of its own after the ``FanOut`` (independent
  zero-mean weights), so Σ = Σᵢ Σᵢ and Θ = Σᵢ Θᵢ (Novak et al. 2020, "Neural Tangents", arXiv
  1912.02803; neural-tangents ``stax.FanInSum``).
- ``FanInConcat()``: channels (features) of equal-width branches side by side. The next
  Dense/Conv has fan-in Σᵢ Cᵢ, so it sees the average of the branch kernels,
  Σ = (1/n)·Σᵢ Σᵢ (neural-tangents ``stax.FanInConcat`` along the channel axis).
- ``residual(f…)`` = ``serial(FanOut(2), parallel(serial(f…), Identity()), FanInSum())``:
  z = x + f(x) (He et al. 2016, arXiv 1512.03385, Eq. 1).

Where the sum is not Gaussian the kernel is still exact for what follows it linearly:

- neural-tangents raises when a summed branch is not Gaussian (raw inputs, or an activation's
  output: the identity branch of a residual block placed right after an activation, as in
  ``relu residual(conv relu conv)``). occamlab computes it: with at most one such branch the
  cross terms still vanish (E[a·b'] = a·E[b'] = 0 for a zero-mean independent b), so the second
  moments add; the sum is then marked non-Gaussian and an activation or layer norm right after
  it raises, as in neural-tangents.
- Two branches without a Dense/Conv of their own (e.g. ``parallel(Identity(), Relu())``) are
  functions of the same input, correlated: neural-tangents adds their kernels anyway (with a
  warning that independence is not verified), which is wrong (x + x has kernel 4Σ, not 2Σ);
  occamlab raises.
- A concatenation mixes channels with different kernels: neural-tangents marks it
  non-Gaussian, and so an activation or layer norm may not follow it directly (a Dense/Conv may).
"""

from __future__ import annotations

import torch
from torch import nn

from occamlab._check import check_int
from occamlab.kernels._activations import Identity
from occamlab.kernels._core import Flow, Layer, Serial, State, serial

__all__ = ["FanOut", "Parallel", "parallel", "FanInSum", "FanInConcat", "residual"]


class FanOut(Layer):
    """``n`` copies of the input, one per branch (neural-tangents ``stax.FanOut``).

    Arguments:
        n: number of branches (≥ 1).
    """

    def __init__(self, n: int):
        self.n = check_int(n, "n", ge=1)

    def __repr__(self) -> str:
        return f"FanOut({self.n})"

    def infer(self, flow: Flow) -> tuple[Flow, ...]:
        # the copies share everything: none is independent of the others
        return (flow.replace(fresh=False),) * self.n

    def kernel_step(self, st: State) -> tuple[State, ...]:
        return (st,) * self.n

    def module(self, shape, width, out, generator, dtype, device, **kw):
        return _FanOutModule(self.n), (tuple(shape),) * self.n


class Parallel(Layer):
    """One layer (or :func:`serial`) per branch; made by :func:`parallel`."""

    takes_branches = True

    def __init__(self, *branches: Layer):
        if not branches:
            raise ValueError("parallel() needs at least one branch")
        self.branches = [serial(b) for b in branches]

    def __repr__(self) -> str:
        return "parallel(" + ", ".join(map(repr, self.branches)) + ")"

    @property
    def has_width(self) -> bool:
        return any(b.has_width for b in self.branches)

    def supports(self, parameterization: str) -> bool:
        return all(b.supports(parameterization) for b in self.branches)

    def infer(self, flows: tuple[Flow, ...]) -> tuple[Flow, ...]:
        n = len(flows)
        if n != len(self.branches):
            raise ValueError(f"parallel has {len(self.branches)} branches but receives {n}; "
                             f"use FanOut({len(self.branches)}) before it, or give {n} branches")
        out = []
        for i, (b, f) in enumerate(zip(self.branches, flows)):
            try:
                out.append(b.infer(f))
            except ValueError as e:
                raise ValueError(f"branch {i}: {e}") from None
        return tuple(out)

    def needs_pairs(self) -> bool | None:
        needs = [b.needs_pairs() for b in self.branches]
        if any(needs):
            return True
        return False if all(n is False for n in needs) else None

    def kernel_step(self, sts: tuple[State, ...]) -> tuple[State, ...]:
        return tuple(b.kernel_step(s) for b, s in zip(self.branches, sts))

    def module(self, shapes, width, out, generator, dtype, device, **kw):
        if out is not None:
            raise ValueError("the readout (the last Dense/Conv) is inside a branch; end the "
                             "architecture with a Dense after FanInSum()/FanInConcat()")
        mods, outs = [], []
        for b, shape in zip(self.branches, shapes):
            mod, shape = b.module(shape, width, None, generator, dtype, device, **kw)
            mods.append(mod)
            outs.append(shape)
        return _ParallelModule(mods), tuple(outs)


def parallel(*branches: Layer) -> Parallel:
    """One layer (or :func:`serial`) per branch of a preceding ``FanOut``
    (neural-tangents ``stax.parallel``)."""
    return Parallel(*branches)


def _sum_arrays(arrays: list[torch.Tensor | None]) -> torch.Tensor | None:
    if arrays[0] is None:
        return None
    out = arrays[0].clone()
    for a in arrays[1:]:
        out += a
    return out


def _merge(sts: tuple[State, ...], scale: float) -> State:
    """``scale·Σᵢ`` of every array of the branch states (identical layouts)."""
    def f(arrays):
        out = _sum_arrays(arrays)
        return out if out is None or scale == 1.0 else out.mul_(scale)

    var1 = f([s.var1 for s in sts])
    shared = all(s.var2 is s.var1 for s in sts)
    return sts[0].replace(nngp=f([s.nngp for s in sts]), ntk=f([s.ntk for s in sts]),
                          var1=var1, var2=var1 if shared else f([s.var2 for s in sts]))


class FanInSum(Layer):
    """Sum of the branches, ``z = Σᵢ zᵢ``: their kernels add (see the module docstring for when
    that is exact, and the cases that raise). Neural-tangents ``stax.FanInSum``."""

    takes_branches = True

    def __repr__(self) -> str:
        return "FanInSum()"

    def infer(self, flows: tuple[Flow, ...]) -> Flow:
        first = flows[0]
        for i, f in enumerate(flows[1:], 1):
            if f.shape[1:] != first.shape[1:] or f.channels != first.channels:
                raise ValueError(f"FanInSum needs branches of the same shape; branch 0 has "
                                 f"{first.describe()}, branch {i} has {f.describe()}")
        shared = [i for i, f in enumerate(flows) if not f.fresh]
        if len(shared) > 1:
            raise ValueError(
                f"branches {shared} have no Dense/Conv of their own after the FanOut, so they are "
                "functions of the same input and their cross-covariance does not vanish: the "
                "kernel of their sum is not the sum of their kernels; give all but one branch a "
                "Dense or Conv")
        return Flow(first.shape, first.channels, gaussian=all(f.gaussian for f in flows),
                    fresh=all(f.fresh for f in flows))

    def kernel_step(self, sts: tuple[State, ...]) -> State:
        return _merge(sts, 1.0)

    def module(self, shapes, width, out, generator, dtype, device, **kw):
        return _FanInSumModule(), tuple(shapes[0])  # shapes checked by infer


class FanInConcat(Layer):
    """Branches side by side along the channel (feature) axis; the next Dense/Conv sees the
    average of their kernels. The branches must have the same number of channels at every
    width (so the average is a plain mean, in the finite and the infinite network alike), and
    the result is not Gaussian (a mixture of kernels): a Dense/Conv must follow it before any
    activation or layer norm. Neural-tangents ``stax.FanInConcat(axis=-1)``."""

    takes_branches = True

    def __repr__(self) -> str:
        return "FanInConcat()"

    def infer(self, flows: tuple[Flow, ...]) -> Flow:
        first = flows[0]
        for i, f in enumerate(flows[1:], 1):
            if f.shape[1:] != first.shape[1:]:
                raise ValueError(f"FanInConcat needs branches of the same spatial shape; branch "
                                 f"0 has {first.describe()}, branch {i} has {f.describe()}")
            if f.channels != first.channels:
                raise ValueError(f"FanInConcat needs branches with the same number of channels "
                                 f"(each kernel then weighs the same); branch 0 has "
                                 f"{first.describe()}, branch {i} has {f.describe()}")
        a, b = first.channels
        n = len(flows)
        return Flow(first.shape, (a * n, b * n), gaussian=False,
                    fresh=all(f.fresh for f in flows))

    def kernel_step(self, sts: tuple[State, ...]) -> State:
        return _merge(sts, 1.0 / len(sts))

    def module(self, shapes, width, out, generator, dtype, device, **kw):
        return _FanInConcatModule(), (sum(s[0] for s in shapes), *shapes[0][1:])


def residual(*layers: Layer) -> Serial:
    """A residual block ``z = x + f(x)`` with ``f = serial(*layers)``:
    ``serial(FanOut(2), parallel(serial(*layers), Identity()), FanInSum())``.

    Its kernel is the input's plus the branch's (the branch needs a Dense/Conv of its own; see
    the module docstring).
    """
    return serial(FanOut(2), parallel(serial(*layers), Identity()), FanInSum())


# --------------------------------------------------------------------------- finite modules


class _FanOutModule(nn.Module):
    branching = True  # tuples flow in or out: the layerwise empirical NTK declines it
    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (x,) * self.n

    def extra_repr(self) -> str:
        return str(self.n)


class _ParallelModule(nn.Module):
    branching = True  # tuples flow in or out: the layerwise empirical NTK declines it
    def __init__(self, branches: list[nn.Module]):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, xs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        return tuple(b(x) for b, x in zip(self.branches, xs))


class _FanInSumModule(nn.Module):
    branching = True  # tuples flow in or out: the layerwise empirical NTK declines it
    def forward(self, xs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class _FanInConcatModule(nn.Module):
    branching = True  # tuples flow in or out: the layerwise empirical NTK declines it
    def forward(self, xs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return torch.cat(xs, dim=1)
