"""Zarr stores of runs: made for one set of arguments, one chunk per cell or tile, done marks.

A store is a Zarr group whose attributes record the run's kind and arguments (grid, seeds,
function, architecture, digests of the inputs, tile). Opening it with other arguments is refused
with the differences named, so finished work is never mixed with another run's. Every cell or
tile owns its chunks (Zarr has no locks: one writer per chunk) and is marked done only after its
data is written, so a run stopped anywhere resumes by redoing exactly the cells not marked done.
Zarr's local store replaces each chunk file atomically.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["digest", "open_store", "require", "CellStore", "as_values"]

#: status of a cell: not run yet, done, failed (its message in the "error" array).
MISSING, DONE, FAILED = 0, 1, 2


def digest(x: Any) -> str:
    """A short SHA-256 of an array's dtype, shape and bytes (inputs named in a store)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    a = np.ascontiguousarray(x)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.view(np.uint8).reshape(-1) if a.size else b"")
    return h.hexdigest()[:16]


def _short(v: Any) -> str:
    text = json.dumps(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _differences(old: Any, new: Any, where: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in [*old, *(k for k in new if k not in old)]:
            sub = f"{where}[{k!r}]" if where else str(k)
            if k not in new:
                out.append(f"{sub}: stored {_short(old[k])}, not given now")
            elif k not in old:
                out.append(f"{sub}: not in the store, given {_short(new[k])}")
            else:
                out.extend(_differences(old[k], new[k], sub))
        return out
    return [] if old == new else [f"{where}: stored {_short(old)}, given {_short(new)}"]


def open_store(path: str | Path, kind: str, arguments: dict[str, Any]):
    """The Zarr group at ``path`` for a ``kind`` run ("sweep", "kernel", …) with ``arguments``.

    A new store is created; an existing one must have been made for the same kind and the same
    arguments (JSON values), else a ``ValueError`` names each difference.
    """
    import zarr

    path = Path(path)
    arguments = json.loads(json.dumps(arguments))  # the form they take once stored
    if path.exists():
        try:
            group = zarr.open_group(path, mode="r+")
            meta = dict(group.attrs).get("occamlab")
        except Exception:  # not a Zarr group at all
            meta = None
        if not isinstance(meta, dict):
            raise ValueError(f"store {path} exists and is not an occamlab store; give another "
                             "path or remove it")
        if meta.get("kind") != kind:
            raise ValueError(f"store {path} holds a {meta.get('kind')} run, not a {kind} run; "
                             "give another path")
        diffs = _differences(meta.get("arguments"), arguments, "")
        if diffs:
            raise ValueError(f"store {path} was made with other arguments: " + "; ".join(diffs)
                             + ". Give the same arguments to resume it, or another store path")
        return group
    return zarr.open_group(path, mode="w-", attributes={"occamlab": {"kind": kind,
                                                                      "arguments": arguments}})


def require(group, name: str, **spec):
    """The array ``name`` of ``group``, created with ``spec`` if it is not there yet."""
    return group[name] if name in group else group.create_array(name, **spec)


def as_values(result: Any) -> dict[str, np.ndarray]:
    """A task's returned mapping as float64 arrays, checked: names → scalars or small arrays."""
    if not isinstance(result, Mapping):
        raise TypeError(f"the function must return a dict of numbers or arrays, got "
                        f"{type(result).__name__}")
    out = {}
    for k, v in result.items():
        if not isinstance(k, str) or not k or k in ("error", "seed") or "/" in k:
            raise ValueError(f"returned key {k!r} is not allowed: keys are non-empty strings "
                             "without '/', other than 'error' and 'seed'")
        if isinstance(v, torch.Tensor):
            v = v.detach().cpu().numpy()
        a = np.asarray(v)
        if a.dtype.kind not in "biuf":
            raise TypeError(f"returned {k!r} must be a real number or array, got "
                            f"{type(v).__name__} of dtype {a.dtype}")
        out[k] = a.astype(np.float64)
    return out


class CellStore:
    """Per-cell results of a grid of ``shape``: one chunk per cell of every returned variable.

    ``values/<name>`` holds a (*shape, *value_shape) float64 array (NaN where a cell has no
    value), ``status`` marks each cell missing/done/failed, ``error`` holds failure messages.
    Only the process that runs the grid writes, cell by cell: data, then the done mark.
    """

    def __init__(self, path: str | Path, kind: str, shape: tuple[int, ...],
                 arguments: dict[str, Any]):
        self.path = Path(path)
        self.shape = tuple(shape)
        self.group = open_store(path, kind, arguments)
        cell = (1,) * len(self.shape)
        self.status = require(self.group, "status", shape=self.shape, chunks=cell, dtype="int8",
                              fill_value=MISSING)
        self.error = require(self.group, "error", shape=self.shape, chunks=cell, dtype=str,
                             fill_value="")
        self.values = self.group.require_group("values")

    def pending(self) -> list[tuple[int, ...]]:
        """Cells not marked done (never run, or failed), in grid order."""
        status = self.status[...]
        return [tuple(int(i) for i in ix) for ix in np.argwhere(status != DONE)]

    def failed(self) -> int:
        return int((self.status[...] == FAILED).sum())

    def _check_shapes(self, values: dict[str, np.ndarray]) -> None:
        for k, v in values.items():
            if k in self.values and self.values[k].shape[len(self.shape):] != v.shape:
                have = self.values[k].shape[len(self.shape):]
                raise ValueError(f"returned {k!r} has shape {v.shape}, but earlier cells gave "
                                 f"shape {have}")

    def write(self, index: tuple[int, ...], values: dict[str, np.ndarray]) -> None:
        """Write one cell's values, then mark it done (raises before writing on a bad shape)."""
        self._check_shapes(values)
        for k, v in values.items():
            if k not in self.values:
                self.values.create_array(k, shape=self.shape + v.shape,
                                         chunks=(1,) * len(self.shape) + v.shape,
                                         dtype="float64", fill_value=np.nan)
            self.values[k][index] = v
        self.error[index] = ""
        self.status[index] = DONE

    def fail(self, index: tuple[int, ...], message: str) -> None:
        """Record a cell's failure: NaN values, its message, status failed."""
        for k in self.values:
            self.values[k][index] = np.nan
        self.error[index] = message
        self.status[index] = FAILED

    def dataset(self, dims: list[str], coords: dict[str, Any], attrs: dict[str, Any]):
        """Everything in the store as an ``xarray.Dataset`` (dims: ``dims`` + value axes)."""
        import xarray as xr

        data = {}
        for k in sorted(self.values):
            arr = self.values[k][...]
            extra = [f"{k}_dim_{a}" for a in range(arr.ndim - len(dims))]
            data[k] = (dims + extra, arr)
        data["error"] = (dims, np.array(self.error[...].astype(object).tolist(), dtype=str))
        return xr.Dataset(data, coords=coords, attrs=attrs)
