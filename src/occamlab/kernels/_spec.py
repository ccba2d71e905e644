"""A small readable spec for architectures (used by the ``occamlab kernel`` command).

A spec is a whitespace-separated list of layers, each ``name`` or ``name(arguments)``; arguments
are positional or ``key=value``, separated by commas::

    conv(3,circular,w=1.41,b=0.1) relu flatten dense(w=1.41,b=0.1) erf dense

Layers: ``dense(w, b)``, ``conv(filter_size, padding, w, b)`` (filter_size ``3`` or ``3x3``),
``flatten``, ``gap`` (global average pooling), ``avgpool(window, stride, padding)`` (local
average pooling; ``avgpool(2)``, ``avgpool(3,1,same)``, ``avgpool(2x2)``), ``layernorm`` or
``layernorm(all)``, and the activations ``relu``, ``leakyrelu(alpha)``, ``abs``, ``erf``,
``gelu``, ``sign``, ``identity``, ``tanh(deg)``. ``w``/``b`` are short for ``w_std``/``b_std``.

Branches nest: ``residual(layers…)`` is a residual block x + f(x); ``fanout(n)`` splits into n
branches, ``parallel(branch, branch, …)`` (branches separated by commas) runs one spec per
branch, and ``sum`` or ``concat`` merges them::

    dense residual(relu dense) relu dense
    conv(3) fanout(2) parallel(relu conv(3), erf conv(5)) concat relu gap dense
"""

from __future__ import annotations

import re

from occamlab.kernels._activations import ACTIVATIONS, activation
from occamlab.kernels._branching import FanInConcat, FanInSum, FanOut, parallel, residual
from occamlab.kernels._core import Layer, Serial, serial
from occamlab.kernels._layers import Conv, Dense, Flatten, GlobalAvgPool
from occamlab.kernels._normalization import LayerNorm
from occamlab.kernels._pooling import AvgPool

__all__ = ["parse_spec", "LAYER_NAMES"]

_ALIASES = {"w": "w_std", "b": "b_std"}
_LINEAR = {"dense": Dense, "conv": Conv, "flatten": Flatten, "gap": GlobalAvgPool,
           "globalavgpool": GlobalAvgPool, "avgpool": AvgPool, "layernorm": LayerNorm,
           "fanout": FanOut, "sum": FanInSum, "faninsum": FanInSum, "concat": FanInConcat,
           "faninconcat": FanInConcat}
_NESTED = ("residual", "parallel")
#: every name a spec may use.
LAYER_NAMES = (*_LINEAR, *_NESTED, *ACTIVATIONS)
_NAME = re.compile(r"\s*([A-Za-z_][\w-]*)\s*")


def _value(text: str, name: str):
    text = text.strip()
    if re.fullmatch(r"\d+x\d+", text):
        return tuple(int(v) for v in text.split("x"))
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if re.fullmatch(r"[A-Za-z_]\w*", text):
        return text
    raise ValueError(f"could not read argument {text!r} of layer {name!r}; use numbers, "
                     "names (e.g. circular) or key=value")


def _closing(text: str, start: int) -> int:
    """Index of the parenthesis closing the one at ``start``."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise ValueError(f"unbalanced parentheses in the spec at {text[start:]!r}")


def _split_top(text: str) -> list[str]:
    """``text`` split at the commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def _arguments(raw: str | None, name: str) -> tuple[list, dict]:
    args: list = []
    kwargs: dict = {}
    if raw and "(" in raw:
        raise ValueError(f"layer {name!r} takes numbers, names or key=value, not layers; only "
                         f"{' and '.join(_NESTED)} take layers")
    for part in (raw or "").split(","):
        if not part.strip():
            continue
        if "=" in part:
            k, v = part.split("=", 1)
            k = k.strip()
            kwargs[_ALIASES.get(k, k)] = _value(v, name)
        else:
            args.append(_value(part, name))
    return args, kwargs


def _layer(name: str, raw: str | None) -> Layer:
    key = name.lower().replace("_", "").replace("-", "")
    if key in _NESTED:
        if not (raw or "").strip():
            raise ValueError(f"{key}(...) needs layers inside its parentheses, e.g. "
                             f"{key}(relu dense)")
        if key == "residual":
            return residual(*_parse(raw).layers)
        return parallel(*(_parse(part) for part in _split_top(raw)))
    args, kwargs = _arguments(raw, name)
    if key == "avgpool":  # names are the padding, numbers window then stride
        for v in [a for a in args if isinstance(a, str)]:
            kwargs["padding"] = v
        args = [a for a in args if not isinstance(a, str)]
    if key == "layernorm" and args:
        kwargs["over"], args = args[0], args[1:]
    if key in _LINEAR:
        try:
            return _LINEAR[key](*args, **kwargs)
        except TypeError as e:
            raise ValueError(f"bad arguments for layer {name!r}: {e}") from None
    if key in ACTIVATIONS:
        if args:
            if len(args) > 1 or key not in ("leakyrelu", "tanh"):
                raise ValueError(f"activation {name!r} takes no positional arguments "
                                 "(leakyrelu(alpha) and tanh(deg) take one)")
            kwargs["alpha" if key == "leakyrelu" else "deg"] = args[0]
        return activation(key, **kwargs)
    raise ValueError(f"unknown layer {name!r} in spec; valid: {', '.join(LAYER_NAMES)}")


def _parse(text: str) -> Serial:
    layers: list[Layer] = []
    text = text.strip()
    pos = 0
    while pos < len(text):
        m = _NAME.match(text, pos)
        if m is None:
            raise ValueError(f"could not parse the spec at {text[pos:]!r}; expected a layer like "
                             "'dense(w=1.41,b=0.1)' or 'relu'")
        name, pos, raw = m.group(1), m.end(), None
        if pos < len(text) and text[pos] == "(":
            end = _closing(text, pos)
            raw, pos = text[pos + 1:end], end + 1
        while pos < len(text) and text[pos] in " \t\n":
            pos += 1
        if pos < len(text) and not (text[pos].isalpha() or text[pos] == "_"):
            raise ValueError(f"could not parse the spec at {text[pos:]!r}; layers are separated "
                             "by spaces and arguments go in parentheses")
        layers.append(_layer(name, raw))
    if not layers:
        raise ValueError("the spec is empty; give layers like 'dense relu dense'")
    return serial(*layers)


def parse_spec(spec: str) -> Serial:
    """Build an architecture from a spec string (see the module docstring).

    Raises ``ValueError`` naming the bad token and listing the valid layer names.
    """
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a string, got {type(spec).__name__}")
    return _parse(spec)
