"""The validation vocabulary shared by every room: one rule for each kind of argument.

In the style of ``torch.distributions.constraints`` and scikit-learn's parameter constraints,
every public function validates its arguments up front with these helpers, so that errors have
one shape everywhere:

- ``TypeError`` when the argument has the wrong type: ``"{name} must be {what}, got {value!r}
  ({type})"``;
- ``ValueError`` when it has the right type but a wrong value: ``"{name} must be {what}, got
  {value!r}"``.

Each helper returns the value converted to its canonical Python type. Nothing here is public API.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["check_int", "check_real", "check_choice", "check_bool", "check_instance",
           "type_error", "value_error"]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def type_error(name: str, what: str, value: Any) -> TypeError:
    """The ``TypeError`` for argument ``name`` that should be ``what``."""
    return TypeError(f"{name} must be {what}, got {_show(value)} ({type(value).__name__})")


def value_error(name: str, what: str, value: Any) -> ValueError:
    """The ``ValueError`` for argument ``name`` whose value should be ``what``."""
    return ValueError(f"{name} must be {what}, got {_show(value)}")


def _bounds(gt, ge, lt, le) -> str:
    parts = []
    if gt is not None:
        parts.append(f"> {gt}")
    if ge is not None:
        parts.append(f"≥ {ge}")
    if lt is not None:
        parts.append(f"< {lt}")
    if le is not None:
        parts.append(f"≤ {le}")
    return " and ".join(parts)


def _in_bounds(v: float, gt, ge, lt, le) -> bool:
    return ((gt is None or v > gt) and (ge is None or v >= ge) and (lt is None or v < lt)
            and (le is None or v <= le))


def check_int(value: Any, name: str, *, gt: int | None = None, ge: int | None = None,
              lt: int | None = None, le: int | None = None) -> int:
    """``value`` as an ``int`` within the bounds (``bool`` is not an integer here)."""
    bounds = _bounds(gt, ge, lt, le)
    what = "an integer" + (f" {bounds}" if bounds else "")
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise type_error(name, what, value)
    if not _in_bounds(int(value), gt, ge, lt, le):
        raise value_error(name, what, value)
    return int(value)


def check_real(value: Any, name: str, *, gt: float | None = None, ge: float | None = None,
               lt: float | None = None, le: float | None = None,
               finite: bool = True) -> float:
    """``value`` as a ``float`` within the bounds; NaN is always rejected, Inf unless
    ``finite=False``."""
    bounds = _bounds(gt, ge, lt, le)
    what = ("a finite number" if finite else "a number") + (f" {bounds}" if bounds else "")
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        # 0-d tensors and arrays are numbers too
        item = getattr(value, "item", None)
        if getattr(value, "ndim", None) == 0 and item is not None:
            return check_real(item(), name, gt=gt, ge=ge, lt=lt, le=le, finite=finite)
        raise type_error(name, what, value)
    v = float(value)
    if math.isnan(v) or (finite and math.isinf(v)) or not _in_bounds(v, gt, ge, lt, le):
        raise value_error(name, what, value)
    return v


def check_choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices``, else a ``ValueError`` listing them."""
    choices = tuple(choices)
    what = "one of " + ", ".join(repr(c) for c in choices)
    try:
        ok = value in choices
    except TypeError:  # unhashable or incomparable
        ok = False
    if not ok:
        if choices and all(isinstance(c, str) for c in choices) and not isinstance(value, str):
            raise type_error(name, what, value)
        raise value_error(name, what, value)
    return value


def check_bool(value: Any, name: str) -> bool:
    """``value`` if it is a ``bool`` (or NumPy bool)."""
    if not isinstance(value, bool | np.bool_):
        raise type_error(name, "True or False", value)
    return bool(value)


def check_instance(value: Any, name: str, types: type | tuple[type, ...], what: str) -> Any:
    """``value`` if it is an instance of ``types``; ``what`` describes them for the message."""
    if not isinstance(value, types):
        raise type_error(name, what, value)
    return value
