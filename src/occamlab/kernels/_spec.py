"""A small readable spec for architectures (used by the ``occamlab kernel`` command).

A spec is a whitespace-separated list of layers, each ``name`` or ``name(arguments)``; arguments
are positional or ``key=value``, separated by commas::

    conv(3,circular,w=1.41,b=0.1) relu flatten dense(w=1.41,b=0.1) erf dense

Layers: ``dense(w, b)``, ``conv(filter_size, padding, w, b)`` (filter_size ``3`` or ``3x3``),
``flatten``, ``gap`` (global average pooling), and the activations ``relu``,
``leakyrelu(alpha)``, ``abs``, ``erf``, ``gelu``, ``sign``, ``identity``, ``tanh(deg)``.
``w``/``b`` are short for ``w_std``/``b_std``.
"""

from __future__ import annotations

import re

from occamlab.kernels._activations import ACTIVATIONS, activation
from occamlab.kernels._core import Layer, Serial, serial
from occamlab.kernels._layers import Conv, Dense, Flatten, GlobalAvgPool

__all__ = ["parse_spec", "LAYER_NAMES"]

_ALIASES = {"w": "w_std", "b": "b_std"}
_LINEAR = {"dense": Dense, "conv": Conv, "flatten": Flatten, "gap": GlobalAvgPool,
           "globalavgpool": GlobalAvgPool}
#: every name a spec may use.
LAYER_NAMES = (*_LINEAR, *ACTIVATIONS)
_TOKEN = re.compile(r"\s*([A-Za-z_][\w-]*)\s*(?:\(([^()]*)\))?")


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


def parse_spec(spec: str) -> Serial:
    """Build an architecture from a spec string (see the module docstring).

    Raises ``ValueError`` naming the bad token and listing the valid layer names.
    """
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a string, got {type(spec).__name__}")
    layers: list[Layer] = []
    pos = 0
    text = spec.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"could not parse the spec at {text[pos:]!r}; expected a layer like "
                             "'dense(w=1.41,b=0.1)' or 'relu'")
        pos = m.end()
        while pos < len(text) and text[pos] in " \t\n":
            pos += 1
        if pos < len(text) and not (text[pos].isalpha() or text[pos] == "_"):
            raise ValueError(f"could not parse the spec at {text[pos:]!r}; layers are separated "
                             "by spaces and arguments go in parentheses")
        name, raw = m.group(1), m.group(2)
        key = name.lower().replace("_", "").replace("-", "")
        args: list = []
        kwargs: dict = {}
        for part in (raw or "").split(","):
            if not part.strip():
                continue
            if "=" in part:
                k, v = part.split("=", 1)
                k = k.strip()
                kwargs[_ALIASES.get(k, k)] = _value(v, name)
            else:
                args.append(_value(part, name))
        if key in _LINEAR:
            try:
                layers.append(_LINEAR[key](*args, **kwargs))
            except TypeError as e:
                raise ValueError(f"bad arguments for layer {name!r}: {e}") from None
        elif key in ACTIVATIONS:
            if args:
                if len(args) > 1 or key not in ("leakyrelu", "tanh"):
                    raise ValueError(f"activation {name!r} takes no positional arguments "
                                     "(leakyrelu(alpha) and tanh(deg) take one)")
                kwargs["alpha" if key == "leakyrelu" else "deg"] = args[0]
            layers.append(activation(key, **kwargs))
        else:
            raise ValueError(f"unknown layer {name!r} in spec; valid: {', '.join(LAYER_NAMES)}")
    if not layers:
        raise ValueError("the spec is empty; give layers like 'dense relu dense'")
    return serial(*layers)
