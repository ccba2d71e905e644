"""Many chains of a stack of linear layers: forward and backward by batched matrix products.

For an ``nn.Sequential`` of ``Linear`` layers and pointwise activations (an MLP or a deep linear
network) the sampler does not need ``vmap`` and autograd: with the chains' weights stacked as
(C, out, in), one batched product per layer gives every chain's outputs,

    z_l = W_l·h_{l−1} + b_l,   h_l = σ_l(z_l),   (C, ·, B) per layer,

and the chain rule written out gives every chain's gradient of its own loss L_c (chains are
independent, so ∂(Σ_c L_c)/∂W_c = ∇L_c):

    δ_L = ∂L/∂h_L,   δ ← δ ⊙ σ_l′(z_l),   ∂L/∂W_l = δ·h_{l−1}ᵀ,   ∂L/∂b_l = Σ_rows δ,
    δ ← W_lᵀ·δ.

Activations are kept feature-major, (C, features, B) with the B rows of a minibatch last: each
chain's product is then a short, wide (out × in)·(in × B) one, which BLAS runs 3–5 times faster
than the tall, narrow (B × in)·(in × out) of the row-major layout at these widths (a few to a
few tens of features, B in the hundreds). The inputs come feature-major too (the sampler
gathers a minibatch one input feature at a time); targets stay rows.

Only the loss itself (the user's ``loss_fn``, per chain) goes through autograd, and not even that
for ``MSELoss``, ``CrossEntropyLoss`` and :func:`occamlab.tasks.gaussian_nll`, whose values and
gradients with respect to the outputs are written in closed form (:func:`_closed_form`). At
this size a step is per-op overhead, and this path issues about three tensor operations per layer
instead of vmap's and the autograd engine's dozens. Any other model uses the general vmapped path of
:mod:`occamlab.slt._samplers`; both give the same numbers up to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.func import vmap

from occamlab.tasks import gaussian_nll

__all__ = ["Stack"]

# Pointwise activations with their derivative written in terms of what the forward kept.
_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.Identity)
# Up to this many chains the loss is called once per chain; above, once under vmap.
_LOOP_CHAINS = 8


def _plain(module: nn.Module, cls: type) -> bool:
    """``module`` behaves as ``cls`` itself: no overridden forward, no hooks, no parametrization."""
    return (isinstance(module, cls) and type(module).forward is cls.forward
            and not module._forward_hooks and not module._forward_pre_hooks
            and not hasattr(module, "parametrizations"))


def _layers(model: nn.Module) -> list[nn.Module] | None:
    if not _plain(model, nn.Sequential):
        return None
    out: list[nn.Module] = []
    for m in model:
        if isinstance(m, nn.Sequential):
            inner = _layers(m)
            if inner is None:
                return None
            out += inner
        elif _plain(m, nn.Linear) or any(_plain(m, cls) for cls in _ACTIVATIONS):
            out.append(m)
        else:
            return None
    return out if any(isinstance(m, nn.Linear) for m in out) else None


class Stack:
    """The forward and backward of C chains of a Sequential of Linear layers and activations.

    Build with :meth:`of` (None when the model is not such a stack). Parameters are passed as a
    dict name → tensor, either stacked (C, *shape) — one set per chain — or unstacked (*shape),
    shared by all rows; parameters of the model outside ``like`` keep the model's values.
    """

    def __init__(self, layers: list[tuple], loss_fn: Callable, form: Callable | None = None,
                 width: int = 0, affine: bool = False):
        self.layers, self.loss_fn, self.form, self.width = layers, loss_fn, form, width
        self.affine = affine  # Linear layers only, collapsed (see _affine_loss_and_grad)

    @classmethod
    def of(cls, model: nn.Module, loss_fn: Callable, like: dict[str, torch.Tensor]
           ) -> Stack | None:
        mods = _layers(model)
        if mods is None:
            return None
        name_of = {id(p): k for k, p in model.named_parameters() if k in like}
        layers: list[tuple] = []
        width = next(m.out_features for m in reversed(mods) if isinstance(m, nn.Linear))
        for m in mods:
            if isinstance(m, nn.Linear):
                refs = [(None, None) if p is None else
                        (name_of.get(id(p)), None if id(p) in name_of else p.detach())
                        for p in (m.weight, m.bias)]
                layers.append(("linear", *refs[0], *refs[1]))
            elif isinstance(m, nn.LeakyReLU):
                layers.append(("leaky", float(m.negative_slope)))
            elif not isinstance(m, nn.Identity):
                layers.append((type(m).__name__.lower(),))
        lins = [m for m in mods if isinstance(m, nn.Linear)]
        # Collapsing Linear layers into one map pays when it is no larger than the layers.
        affine = (len(lins) > 1 and all(kind[0] == "linear" for kind in layers)
                  and lins[0].in_features * width <= sum(m.in_features * m.out_features
                                                         for m in lins))
        return cls(layers, loss_fn, None, width, affine)

    @staticmethod
    def _get(params: dict, name: str | None, const: torch.Tensor | None) -> torch.Tensor | None:
        return const if name is None else params[name]

    def forward(self, params: dict[str, torch.Tensor], x: torch.Tensor, *,
                tape: list | None = None) -> torch.Tensor:
        """The outputs on the inputs ``x`` feature-major, (in, B) shared or (C, in, B), also
        feature-major: (C, out, B) when parameters are stacked. ``tape`` collects what
        :meth:`backward` needs."""
        h = x
        for layer in self.layers:
            kind = layer[0]
            if kind == "linear":
                w = self._get(params, layer[1], layer[2])
                b = self._get(params, layer[3], layer[4])
                if tape is not None:
                    tape.append(h)
                h = torch.matmul(w, h)
                if b is not None:
                    h = h + b.unsqueeze(-1)
            elif kind == "relu":
                h = torch.relu(h)
            elif kind == "leaky":
                if tape is not None:
                    tape.append(h)
                h = torch.nn.functional.leaky_relu(h, layer[1])
            elif kind == "tanh":
                h = torch.tanh(h)
            else:  # sigmoid
                h = torch.sigmoid(h)
            if tape is not None and kind in ("relu", "tanh", "sigmoid"):
                tape.append(h)
        return h

    def for_targets(self, y: torch.Tensor, row_shape: tuple[int, ...]) -> Stack:
        """This stack with the loss in closed form when the loss and the targets ``y`` (whose
        rows have shape ``row_shape``) allow it (see :func:`_closed_form`)."""
        form = _closed_form(self.loss_fn, y, row_shape, self.width)
        return Stack(self.layers, self.loss_fn, form, self.width, self.affine)

    def group_losses(self, out: torch.Tensor, y: torch.Tensor, y_batched: bool = True, *,
                     grad: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``loss_fn`` of each group of rows, out (G, width, B) feature-major with the rows' targets
        y (G, B, ...) or shared (B, ...): values (G,) and, with ``grad``, ∂(Σ_g L_g)/∂out."""
        if self.form is not None:
            return self.form(out, y, grad)
        g = out.shape[0]
        with torch.enable_grad():
            rows = out.mT.contiguous()
            if grad:
                rows.requires_grad_(True)
            if g <= _LOOP_CHAINS:
                vals = torch.stack([self.loss_fn(rows[i], y[i] if y_batched else y)
                                    for i in range(g)])
            else:
                vals = vmap(self.loss_fn, in_dims=(0, 0 if y_batched else None))(rows, y)
            delta = torch.autograd.grad(vals.sum(), rows)[0].mT if grad else None
        return vals.detach(), delta

    def block_losses(self, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor
                     ) -> torch.Tensor:
        """The losses (C, S) of S minibatches per chain in one batched forward: x (C, S, in, B)
        feature-major, y (C, S, B, ...) the rows' targets."""
        c, s = x.shape[:2]
        out = self.forward(params, x.transpose(1, 2).flatten(2))  # (C, width, S·B)
        out = out.unflatten(2, (s, -1)).transpose(1, 2)  # (C, S, width, B), a view
        if self.form is not None:
            return self.form(out, y, False)[0]
        return self.group_losses(out.flatten(0, 1), y.flatten(0, 1))[0].reshape(c, s)

    def backward(self, params: dict[str, torch.Tensor], tape: list, delta: torch.Tensor,
                 grads: dict[str, torch.Tensor]) -> None:
        """Write ∂L/∂θ (C, *shape) of every sampled parameter into the views ``grads``."""
        put = _writer(grads)
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            kind = layer[0]
            saved = tape.pop()
            if kind == "linear":
                w = self._get(params, layer[1], layer[2])
                put(layer[1], torch.matmul(delta, saved.mT))
                if layer[3] is not None:
                    put(layer[3], delta.sum(dim=-1))
                if i > 0:
                    delta = torch.matmul(w.mT, delta)
            elif kind == "relu":  # δ where the output is > 0, else 0
                delta = torch.ops.aten.threshold_backward(delta, saved, 0)
            elif kind == "leaky":
                delta = torch.where(saved > 0, delta, delta * layer[1])
            elif kind == "tanh":
                delta = delta * (1 - saved * saved)
            else:  # sigmoid
                delta = delta * (saved * (1 - saved))

    @property
    def takes_residuals(self) -> bool:
        """Linear layers only with a squared-error loss in closed form: the targets may be
        replaced by the affine map whose outputs they are (``star`` of :meth:`loss_and_grad`)."""
        return self.affine and self.form is not None and self.form is not _cross_entropy

    def affine_map(self, params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Any]:
        """The composite map (P, q) of the Linear layers at ``params`` (q None without biases)."""
        with torch.no_grad():
            return self._composite(params)[2:]

    def loss_and_grad(self, params: dict[str, torch.Tensor], x: torch.Tensor,
                      y: torch.Tensor | None, grads: dict[str, torch.Tensor], *,
                      y_batched: bool = True, star: tuple[torch.Tensor, Any] | None = None
                      ) -> torch.Tensor:
        """Each chain's loss (C,) on its rows (inputs feature-major, as :meth:`forward`), its
        gradient written into ``grads``. With ``star`` = :meth:`affine_map` at w* (only if
        :attr:`takes_residuals`) the targets are that map's outputs and ``y`` is not read."""
        if self.affine:
            return self._affine_loss_and_grad(params, x, y, grads, y_batched, star)
        tape: list = []
        with torch.no_grad():
            out = self.forward(params, x, tape=tape)
            vals, delta = self.group_losses(out, y, y_batched, grad=True)
            self.backward(params, tape, delta, grads)
        return vals

    def _composite(self, params: dict[str, torch.Tensor]) -> tuple[list, list, Any, Any]:
        """The layers' (W, b, names), each layer's input map (P_{l−1}, q_{l−1}) (None for I
        and 0), and the composite (P_L, q_L)."""
        lin = [(self._get(params, ly[1], ly[2]), self._get(params, ly[3], ly[4]), ly[1], ly[3])
               for ly in self.layers]
        maps = []
        p = q = None
        for w, b, _, _ in lin:
            maps.append((p, q))
            p = w if p is None else torch.matmul(w, p)
            if q is not None:
                q = torch.matmul(w, q.unsqueeze(-1)).squeeze(-1)
            q = b if q is None else (q if b is None else q + b)
        return lin, maps, p, q

    def _affine_loss_and_grad(self, params: dict[str, torch.Tensor], x: torch.Tensor,
                              y: torch.Tensor | None, grads: dict[str, torch.Tensor],
                              y_batched: bool, star: tuple[torch.Tensor, Any] | None = None
                              ) -> torch.Tensor:
        """:meth:`loss_and_grad` of Linear layers only, through their composite affine map.

        With h_l = P_l·x + q_l (P_0 = I, q_0 = 0; P_l = W_l·P_{l−1}, q_l = W_l·q_{l−1} + b_l),
        the outputs are P_L·x + q_L, and with δ = ∂L/∂out, G = Σ_rows δ·xᵀ, s = Σ_rows δ and
        S_l = W_L⋯W_{l+1}, the chain rule gives

            ∂L/∂W_l = Σ_rows S_lᵀδ·h_{l−1}ᵀ = T_l·P_{l−1}ᵀ + t_l·q_{l−1}ᵀ,   ∂L/∂b_l = t_l,

        with T_l = S_lᵀ·G and t_l = S_lᵀ·s, T_{l−1} = W_lᵀ·T_l. The rows enter two products
        only (the outputs and G); the rest are products of the small matrices. Targets that
        are the outputs at ``star`` (P*, q*) enter as the residuals (P − P*)·x + (q − q*).
        """
        with torch.no_grad():
            lin, maps, p, q = self._composite(params)
            if star is not None:
                p_star, q_star = star
                p = p - p_star
                q = None if q is None else q - q_star
            out = torch.matmul(p, x)
            if q is not None:
                out = out + q.unsqueeze(-1)
            if star is not None:
                vals, delta = self.form(out, None, True)
            else:
                vals, delta = self.group_losses(out, y, y_batched, grad=True)
            t_mat = torch.matmul(delta, x.mT)  # G
            t_vec = delta.sum(dim=-1) if any(qq is not None for _, qq in maps) or any(
                b is not None for _, b, _, _ in lin) else None  # s
            put = _writer(grads)
            for i in range(len(lin) - 1, -1, -1):
                w, b, w_name, b_name = lin[i]
                p_in, q_in = maps[i]
                if w_name is not None:
                    g = t_mat if p_in is None else torch.matmul(t_mat, p_in.mT)
                    if q_in is not None:
                        g = g + t_vec.unsqueeze(-1) * q_in.unsqueeze(-2)
                    put(w_name, g)
                if b_name is not None:
                    put(b_name, t_vec)
                if i > 0:
                    t_mat = torch.matmul(w.mT, t_mat)
                    if t_vec is not None:
                        t_vec = torch.matmul(w.mT, t_vec.unsqueeze(-1)).squeeze(-1)
        return vals

    def row_losses(self, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                   y_batched: bool) -> torch.Tensor:
        """Every row's own loss at ``params`` (a closed form only) on the rows x (n, in): (G, n)
        for G stacked parameter sets with targets y (G, n, ...) or shared (n, ...); (n,) for one
        unstacked set. The loss of a minibatch is the mean of its rows' losses."""
        assert self.form is not None
        n = x.shape[0]
        g = next((v.shape[0] for v in params.values() if v.ndim == 3), 1)
        size = max(1, _TABLE_ELEMS // (g * max(self.width, x.shape[-1])))
        parts = []
        for s in range(0, n, size):
            out = self.forward(params, x[s:s + size].mT)
            parts.append(self.form(out, y[:, s:s + size] if y_batched else y[s:s + size],
                                   False, rows=True)[0])
        return torch.cat(parts, dim=-1)


def _writer(grads: dict[str, torch.Tensor]) -> Callable[[str | None, torch.Tensor], None]:
    """``put(name, g)``: write a parameter's gradient into its view; a weight tied across layers
    gets the sum of its layers' contributions."""
    written: set[str] = set()

    def put(name: str | None, g: torch.Tensor) -> None:
        if name is None:
            return
        if name in written:
            grads[name].add_(g)
        else:
            grads[name].copy_(g)
            written.add(name)

    return put


# Entries of the outputs computed at once by Stack.row_losses.
_TABLE_ELEMS = 1 << 18

# The closed forms take the outputs feature-major, out (..., width, B), and the targets as rows,
# y (..., B, width) or class indices (..., B); the values are over the last two dimensions, or
# with ``rows`` each row's own loss (..., B), whose mean over the rows is the loss. The squared
# errors also take y = None: out is then the residual, and is overwritten by the gradient.

def _mse(out: torch.Tensor, y: torch.Tensor | None, grad: bool, rows: bool = False):
    # MSELoss(reduction="mean"): the mean of (out − y)² over each group's entries.
    diff = out if y is None else out - y.mT
    size = out.shape[-2] * out.shape[-1]
    if rows:
        vals = diff.square().mean(dim=-2)
    else:  # one pass: the dot product of each group's entries with themselves
        flat = diff.flatten(-2)
        vals = torch.linalg.vecdot(flat, flat).div_(size)
    return vals, (diff.mul_(2 / size) if grad else None)


def _cross_entropy(out: torch.Tensor, y: torch.Tensor, grad: bool, rows: bool = False):
    # CrossEntropyLoss() on class indices: mean over rows of log Σ exp(z) − z_y, with z shifted
    # by its row maximum; the gradient (softmax(z) − onehot(y)) / B reuses the exponentials.
    y = y.expand(*out.shape[:-2], out.shape[-1]).unsqueeze(-2)
    z = out - out.amax(dim=-2, keepdim=True)
    e = z.exp()
    total = e.sum(dim=-2, keepdim=True)
    each = total.log() - z.gather(-2, y)
    vals = each.squeeze(-2) if rows else each.mean(dim=(-2, -1))
    if not grad:
        return vals, None
    delta = e.div_(total).scatter_add_(-2, y, torch.full_like(total, -1.0))
    return vals, delta.div_(out.shape[-1])


def _squared_error(scale: float) -> Callable:
    # gaussian_nll(σ): scale·mean over rows of ‖out − y‖², scale = 1/(2σ²).
    def form(out: torch.Tensor, y: torch.Tensor | None, grad: bool, rows: bool = False):
        diff = out if y is None else out - y.mT
        each = diff.square().sum(dim=-2)
        vals = (each if rows else each.mean(dim=-1)).mul_(scale)
        return vals, (diff.mul_(2 * scale / out.shape[-1]) if grad else None)

    return form


# The code of occamlab.tasks.gaussian_nll's loss, by which its losses are recognized.
_GAUSSIAN_NLL = gaussian_nll(1.0).__code__


def _closed_form(loss_fn: Callable, y: torch.Tensor, row_shape: tuple[int, ...], width: int
                 ) -> Callable | None:
    """The loss and its gradient in closed form for ``MSELoss()`` and
    :func:`occamlab.tasks.gaussian_nll` with targets shaped as the outputs (width ``width``), and
    ``CrossEntropyLoss()`` on class indices that it does not
    ignore (no class weights, no label smoothing); else None (the loss goes through autograd).
    """
    if (_plain(loss_fn, nn.MSELoss) and loss_fn.reduction == "mean" and y.is_floating_point()
            and tuple(row_shape) == (width,)):
        return _mse
    if getattr(loss_fn, "__code__", None) is _GAUSSIAN_NLL and y.is_floating_point() and (
            tuple(row_shape) == (width,)):
        one = torch.ones(1, 1, dtype=y.dtype, device=y.device)
        return _squared_error(float(loss_fn(one, torch.zeros_like(one))))  # its 1/(2σ²)
    if (_plain(loss_fn, nn.CrossEntropyLoss) and loss_fn.reduction == "mean"
            and loss_fn.weight is None and loss_fn.label_smoothing == 0 and row_shape == ()
            and not y.is_floating_point() and not y.is_complex() and y.numel()
            and bool(((y >= 0) & (y < width) & (y != loss_fn.ignore_index)).all())):
        return _cross_entropy
    return None
