"""Base for result records: frozen dataclasses with a readable repr and ``to_dict`` for JSON."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch


def _jsonable(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().numpy()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _jsonable(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, float) and not math.isfinite(v):
        return None  # JSON has no NaN or Infinity
    return v


def _short(v: Any) -> str:
    if isinstance(v, torch.Tensor | np.ndarray):
        size = v.size if isinstance(v, np.ndarray) else v.numel()
        if size == 1:
            return f"{float(v.reshape(-1)[0]):.6g}"
        dt = str(v.dtype).replace("torch.", "")
        return f"<{type(v).__name__.replace('ndarray', 'array')} {tuple(v.shape)} {dt}>"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list | tuple) and len(v) > 6:
        return f"[{len(v)} items]"
    if isinstance(v, dict) and len(v) > 6:
        return f"{{{len(v)} entries}}"
    return repr(v)


def format_table(rows: list[dict[str, Any]]) -> str:
    """Rows (dicts with the same keys) as an aligned plain-text table.

    Text columns are left-aligned, numbers right-aligned. A column of floats that all have at
    most 4 significant digits (settings such as 0.5) prints them as they are; any other float
    column prints 4 decimals (4 significant digits below 1e-3 or from 1e4). NaN prints as nan.
    """
    if not rows:
        return "(no rows)"
    cols = list(rows[0])

    def short(v: Any) -> bool:
        return not isinstance(v, float) or not math.isfinite(v) or float(f"{v:.4g}") == v

    def cell(v: Any, plain: bool) -> str:
        if isinstance(v, float) and math.isfinite(v) and not plain:
            return f"{v:.4f}" if 1e-3 <= abs(v) < 1e4 or v == 0 else f"{v:.4g}"
        return f"{v:g}" if isinstance(v, float) else str(v)

    plain = {c: all(short(r.get(c)) for r in rows) for c in cols}
    text = [[cell(r.get(c, ""), plain[c]) for c in cols] for r in rows]
    left = {c: all(isinstance(r.get(c), str) for r in rows) for c in cols}
    widths = [max(len(c), *(len(t[i]) for t in text)) for i, c in enumerate(cols)]

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) if left[c] else v.rjust(w)
                         for v, w, c in zip(values, widths, cols)).rstrip()

    return "\n".join([line(cols)] + [line(t) for t in text])


class Result:
    """Mixin for ``@dataclass(frozen=True, repr=False)`` result records.

    Gives a one-line-per-field ``repr`` that summarizes arrays by shape, and ``to_dict()`` whose
    values are plain Python (lists, floats) ready for ``json.dump``.
    """

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def __repr__(self) -> str:
        fields = [f for f in dataclasses.fields(self) if f.repr]
        body = ",\n".join(f"  {f.name}={_short(getattr(self, f.name))}" for f in fields)
        return f"{type(self).__name__}(\n{body}\n)"
