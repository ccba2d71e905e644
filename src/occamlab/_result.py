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
        return str(v)
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
