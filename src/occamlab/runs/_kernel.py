"""Infinite-width kernels too large for one process: tiles on Dask, written into a Zarr store.

The (n1 × n2) NNGP and NTK are split into tiles of ``tile × tile`` pairs, each tile one Dask
task that calls the architecture's own :meth:`~occamlab.kernels.Serial.kernel` on its two blocks
of inputs and writes the result into its own Zarr chunk (tile = chunk: no two tasks ever write
one chunk), then its done mark. The inputs are sent to the workers once. With ``x2=None`` only
tiles on and above the diagonal are computed; the task of tile (i, j) also writes the
transposed tile (j, i), so the store holds the whole symmetric matrix for any reader.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from occamlab import kernels as K
from occamlab._check import check_bool, check_choice, check_instance, check_int, value_error
from occamlab._result import Result
from occamlab._torch import as_tensor
from occamlab.runs._cluster import check_retries, executor, say, worker_malloc
from occamlab.runs._store import digest, open_store, require

__all__ = ["kernel", "StoredKernel"]

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


@dataclass(frozen=True, repr=False)
class StoredKernel(Result):
    """A kernel matrix held in a Zarr store, read lazily.

    Attributes:
        store: path of the Zarr store.
        shape: (n1, n2).
        tile: tile side (the store's chunk shape is (tile, tile)).
        tiles: tiles computed for the whole kernel (the upper triangle's for a self-kernel).
        computed: tiles computed by this call (0 when everything was already there).
        nngp: (n1, n2) Zarr array of the NNGP; slicing reads only the chunks asked for.
        ntk: (n1, n2) Zarr array of the NTK, or ``None`` if not computed.
        device: the device type the tiles were computed on (x1's, unless given).
    """

    store: str
    shape: tuple[int, int]
    tile: int
    tiles: int
    computed: int
    nngp: Any
    ntk: Any
    device: str = "cpu"

    def load(self, device: torch.device | str | None = None) -> K.KernelResult:
        """The whole kernel in memory, as the :class:`~occamlab.kernels.KernelResult` that
        ``arch.kernel`` returns, on ``device`` (default: :attr:`device`)."""
        device = self.device if device is None else device

        def read(a):
            return None if a is None else torch.from_numpy(a[...]).to(device)
        return K.KernelResult(nngp=read(self.nngp), ntk=read(self.ntk))

    def to_dict(self) -> dict[str, Any]:
        return {"store": self.store, "shape": list(self.shape), "tile": self.tile,
                "tiles": self.tiles, "computed": self.computed, "device": self.device}


def _as_numpy(x: Any, name: str, dtype: torch.dtype) -> np.ndarray:
    t = as_tensor(x, name, dtype=dtype, ndim=(2, 3, 4))
    return np.ascontiguousarray(t.detach().cpu().numpy())


def _tile_task(ij, arch, x1, x2, path, tile, ntk, device, batch_size):
    """On a worker: compute tile (i, j), write it (and its mirror), then its done mark."""
    import zarr

    worker_malloc()
    i, j = ij
    group = zarr.open_group(path, mode="r+")
    r = slice(i * tile, min((i + 1) * tile, x1.shape[0]))
    other = x1 if x2 is None else x2
    c = slice(j * tile, min((j + 1) * tile, other.shape[0]))
    a = torch.from_numpy(x1[r]).to(device)
    b = None if (x2 is None and i == j) else torch.from_numpy(other[c]).to(device)
    k = arch.kernel(a, b, batch_size, dtype=a.dtype, ntk=ntk)
    for name in ("nngp", "ntk") if ntk else ("nngp",):
        block = getattr(k, name).cpu().numpy()
        group[name][r, c] = block
        if x2 is None and i != j:
            group[name][c, r] = block.T
    group["done"][i, j] = 1


def kernel(arch: K.Layer, x1: Any, x2: Any = None, *, store: str | Path = "runs/kernel.zarr",
           tile: int = 512, client: Any = None, ntk: bool = True, dtype: str = "float64",
           device: str | None = None, batch_size: int | None = None, retries: int = 1,
           progress: bool = True) -> StoredKernel:
    """The infinite-width NNGP and NTK of ``arch`` between x1 and x2, tiled on Dask into a store.

    Equal to ``arch.kernel(x1, x2)`` (same recursion, tile by tile), but bounded in memory by
    one tile per worker, spread over any Dask cluster, and resumable: a rerun with the same store
    computes only the tiles not done; a store made for another architecture, other inputs, tile
    or dtype is refused with the difference named.

    Arguments:
        arch: an occamlab kernels architecture (``K.serial(...)`` or ``K.parse_spec(...)``).
        x1: (n1, d), (n1, C, W) or (n1, C, H, W) inputs.
        x2: (n2, ...) inputs with the same trailing shape, or ``None`` for x2 = x1 (then only
            the upper triangle of tiles is computed).
        store: path of the Zarr store (arrays ``nngp``, ``ntk`` with chunks (tile, tile), and
            the per-tile ``done`` marks).
        tile: inputs per tile side (≥ 1); a tile needs the memory of
            ``arch.kernel`` on tile × tile pairs.
        client: as for :func:`occamlab.runs.sweep` (``None``, an address, a Client, a cluster,
            ``"sync"``).
        ntk: also compute the NTK.
        dtype: "float64" or "float32", of the computation and the store.
        device: where workers compute (``"cpu"``, ``"cuda"``); ``None``: x1's device type.
        batch_size: inputs per block inside a tile (``arch.kernel``'s; ``None``: cache-sized
            blocks, small for images with position pairs: give more on a GPU).
        retries: times Dask reruns a tile that raised.
        progress: progress bar, dashboard address, and a line on what is left to compute.

    Returns:
        :class:`StoredKernel`; ``.nngp``/``.ntk`` are Zarr arrays, ``.load()`` reads them whole.

    Raises:
        RuntimeError: when tiles failed (after the others were stored): run again to retry.
    """
    check_instance(arch, "arch", K.Layer, "an occamlab kernels architecture (K.serial(...))")
    tile = check_int(tile, "tile", ge=1)
    ntk = check_bool(ntk, "ntk")
    progress = check_bool(progress, "progress")
    retries = check_retries(retries)
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", ge=1)
    torch_dtype = _DTYPES[check_choice(dtype, "dtype", tuple(_DTYPES))]
    if device is None:
        device = x1.device.type if isinstance(x1, torch.Tensor) else "cpu"
    try:
        device = torch.device(device).type
    except (RuntimeError, TypeError):
        raise value_error("device", 'a torch device such as "cpu" or "cuda"', device) from None
    a = _as_numpy(x1, "x1", torch_dtype)
    b = None if x2 is None else _as_numpy(x2, "x2", torch_dtype)
    if b is not None and b.shape[1:] != a.shape[1:]:
        raise ValueError(f"x1 and x2 must have the same feature shape, got {a.shape[1:]} and "
                         f"{b.shape[1:]}")
    arch.kernel(a[:1], dtype=torch_dtype, ntk=ntk)  # the architecture fits the inputs: fail here
    n1, n2 = a.shape[0], (a if b is None else b).shape[0]
    t1, t2 = math.ceil(n1 / tile), math.ceil(n2 / tile)
    arguments = {"architecture": repr(arch), "x1": digest(a), "x2": None if b is None
                 else digest(b), "shape": [n1, n2], "tile": tile, "ntk": ntk, "dtype": dtype}
    group = open_store(store, "kernel", arguments)
    names = ("nngp", "ntk") if ntk else ("nngp",)
    for name in names:
        require(group, name, shape=(n1, n2), chunks=(tile, tile), dtype=dtype,
                fill_value=np.nan, compressors=None)
    done = require(group, "done", shape=(t1, t2), chunks=(1, 1), dtype="uint8", fill_value=0)
    tiles = [(i, j) for i in range(t1) for j in range(t2) if b is not None or j >= i]
    marks = done[...]
    todo = [ij for ij in tiles if not marks[ij]]
    say(f"kernel {store}: {len(todo)} of {len(tiles)} tiles of {tile}×{tile} to compute",
        progress)
    errors = []
    if todo:
        with executor(client, progress=progress) as ex:
            where = str(Path(store).resolve())  # workers may run elsewhere
            for out in ex.run(_tile_task, todo, arch, a, b, where, tile, ntk, device, batch_size,
                              retries=retries, name="occamlab-kernel-tile", progress=progress,
                              description="kernel tiles"):
                if out.error is not None:
                    errors.append((out.item, out.error))
    if errors:
        (i, j), message = errors[0]
        raise RuntimeError(f"{len(errors)} of {len(todo)} kernel tiles failed (tile ({i}, {j}): "
                           f"{message}); the others are in {store}: run again to retry them")
    return StoredKernel(store=str(store), shape=(n1, n2), tile=tile, tiles=len(tiles),
                        computed=len(todo), nngp=group["nngp"],
                        ntk=group["ntk"] if ntk else None, device=device)
