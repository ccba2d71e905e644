"""Sweeps over a grid of settings × seeds, and LLC estimates over training checkpoints.

One Dask task per cell; the results go, cell by cell, into a Zarr store (:class:`CellStore`),
so a rerun computes only the cells not done yet and a failing cell is recorded without stopping
the others. The seed of a cell is part of the cell (``fn(**cell, seed=s)``), never taken from
the worker, so results do not depend on where or in which order cells ran.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from occamlab._check import check_bool, check_instance, check_int, type_error, value_error
from occamlab.runs._cluster import check_retries, executor, say, worker_malloc
from occamlab.runs._store import CellStore, as_values, digest

__all__ = ["sweep", "llc_trajectory", "checkpoint_seed"]


def _name(fn: Callable) -> str:
    inner = fn.func if isinstance(fn, functools.partial) else fn
    return f"{getattr(inner, '__module__', '?')}:{getattr(inner, '__qualname__', repr(inner))}"


def _plain(v: Any, name: str) -> Any:
    """A grid value as plain JSON-able Python (numbers, strings, booleans)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool | int | str) or (isinstance(v, float) and math.isfinite(v)):
        return v
    raise type_error(name, "a finite number, string or boolean", v)


def _check_grid(grid: Any) -> dict[str, list]:
    check_instance(grid, "grid", Mapping, "a dict of setting name → list of values")
    out = {}
    for k, values in grid.items():
        if not isinstance(k, str) or not k.isidentifier() or k == "seed":
            raise value_error("grid keys", "argument names other than 'seed'", k)
        if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray
                                                              | range):
            raise type_error(f"grid[{k!r}]", "a list of values", values)
        vals = [_plain(v, f"grid[{k!r}] entries") for v in values]
        if not vals or len(set(map(repr, vals))) != len(vals):
            raise value_error(f"grid[{k!r}]", "a non-empty list of distinct values", values)
        out[k] = vals
    return out


def _check_seeds(seeds: Any) -> list[int]:
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool):
        return list(range(check_int(seeds, "seeds", ge=1)))
    if isinstance(seeds, Sequence | np.ndarray | range) and not isinstance(seeds, str):
        vals = [check_int(s, "seeds entries") for s in seeds]
        if vals and len(set(vals)) == len(vals):
            return vals
    raise value_error("seeds", "a count ≥ 1 or a non-empty list of distinct integers", seeds)


@functools.lru_cache(maxsize=4)
def _unpickled(blob: bytes) -> Callable:
    import cloudpickle

    return cloudpickle.loads(blob)


def _cell_task(item, fn_blob):
    """On a worker: one cell, ``fn(**settings, seed=seed)``, its values checked.

    ``fn`` travels pickled by cloudpickle (once per worker): Dask's own serializer tries
    plain pickle first, which sends a ``functools.partial`` of a function registered with
    ``cloudpickle.register_pickle_by_value`` by reference.
    """
    worker_malloc()
    _, settings, seed = item
    return as_values(_unpickled(fn_blob)(**settings, seed=seed))


def _run_cells(cells: CellStore, items: list, task: Callable, shared: tuple, *, what: str,
               client: Any, retries: int, progress: bool) -> tuple[int, int]:
    """Run ``task`` on the pending ``items`` (index first) and record each outcome."""
    todo = set(cells.pending())
    pending = [it for it in items if it[0] in todo]
    total = math.prod(cells.shape)
    say(f"{what} {cells.path}: {len(pending)} of {total} cells to compute "
        f"({total - len(pending)} already done)", progress)
    ok = bad = 0
    if pending:
        with executor(client, progress=progress) as ex:
            for out in ex.run(task, pending, *shared, retries=retries, name=f"occamlab-{what}",
                              progress=progress, description=f"{what} cells"):
                index = out.item[0]
                if out.error is None:
                    try:
                        cells.write(index, out.value)
                        ok += 1
                        continue
                    except ValueError as e:
                        message = str(e)
                else:
                    message = out.error
                cells.fail(index, message)
                bad += 1
        say(f"{what} {cells.path}: {ok} cells computed, {bad} failed"
            + (" (their messages are in the 'error' variable; run again to retry them)"
               if bad else ""), progress)
    return ok, bad


def sweep(fn: Callable[..., Mapping[str, Any]], grid: Mapping[str, Sequence], *,
          seeds: int | Sequence[int] = 1, store: str | Path = "runs/sweep.zarr",
          client: Any = None, retries: int = 1, progress: bool = True):
    """Run ``fn`` on every cell of ``grid`` × ``seeds`` on Dask; results in a resumable store.

    Arguments:
        fn: ``fn(**cell, seed=s)`` → dict of name → real scalar or small array. It must be
            picklable by reference (a module-level function importable on the workers) or by
            value (defined in ``__main__``, or its module registered with
            ``cloudpickle.register_pickle_by_value``).
        grid: setting name → list of distinct values (numbers, strings, booleans); the cells
            are their Cartesian product, in the order given.
        seeds: a count S (seeds 0, …, S−1) or a list of distinct integers.
        store: path of the Zarr store. A rerun with the same arguments computes only the cells
            not done (never run, or failed); a store made with another grid, seeds or function
            is refused with the difference named.
        client: where to run: ``None`` (a local cluster of one single-threaded worker process
            per core, closed at the end), a scheduler address, a ``distributed.Client``, a Dask
            cluster, or ``"sync"`` (here, one cell after another).
        retries: times Dask reruns a cell that raised before recording it as failed.
        progress: a progress bar and one line before and after on stderr.

    Returns:
        ``xarray.Dataset`` with dims (*grid keys, "seed") (+ ``<name>_dim_<k>`` for array
        values), one float64 variable per returned name (NaN where a cell failed) and the
        string variable ``"error"`` ("" where the cell succeeded). ``attrs``: ``store``,
        ``computed`` and ``failed`` (by this call), ``cells``.
    """
    if not callable(fn):
        raise type_error("fn", "a callable fn(**cell, seed=s) returning a dict", fn)
    grid = _check_grid(grid)
    seed_list = _check_seeds(seeds)
    retries = check_retries(retries)
    progress = check_bool(progress, "progress")
    shape = tuple(len(v) for v in grid.values()) + (len(seed_list),)
    cells = CellStore(store, "sweep", shape, {"function": _name(fn), "grid": grid,
                                              "seeds": seed_list})
    items = []
    for index in itertools.product(*(range(n) for n in shape)):
        settings = {k: grid[k][i] for k, i in zip(grid, index)}
        items.append((index, settings, seed_list[index[-1]]))
    import cloudpickle

    ok, bad = _run_cells(cells, items, _cell_task, (cloudpickle.dumps(fn),), what="sweep",
                         client=client, retries=retries, progress=progress)
    dims = [*grid, "seed"]
    coords = {**{k: np.asarray(v) for k, v in grid.items()}, "seed": np.asarray(seed_list)}
    return cells.dataset(dims, coords, {"store": str(store), "computed": ok, "failed": bad,
                                        "cells": math.prod(shape)})


def checkpoint_seed(seed: int, index: int) -> int:
    """The sampler seed of checkpoint ``index``: from (seed, index) alone, distinct per index."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


# LLCResult fields kept per checkpoint: every real scalar, and the per-chain estimates.
_LLC_FIELDS = ("mean", "std", "se", "loss_star", "nbeta", "localization", "frac_below", "rhat",
               "ess", "geweke", "chain_estimates")


def _llc_task(item, loss_fn, data, options):
    from occamlab import slt

    worker_malloc()
    _, model, seed = item
    res = slt.llc(model, loss_fn, data, seed=seed, progress=False, **options)
    values = {k: getattr(res, k) for k in _LLC_FIELDS}
    if not isinstance(res.step_size, list):
        values["step_size"] = res.step_size
    return as_values(values)


def _state_digest(model: nn.Module) -> str:
    return digest(np.concatenate([p.detach().cpu().double().reshape(-1).numpy()
                                  for p in model.state_dict().values()] or [np.zeros(0)]))


def llc_trajectory(checkpoints: Sequence[nn.Module] | Mapping[int, nn.Module],
                   loss_fn: Callable, data: tuple[Any, Any], *,
                   store: str | Path = "runs/llc.zarr", client: Any = None, seed: int = 0,
                   retries: int = 1, progress: bool = True, **llc_options):
    """The local learning coefficient at every checkpoint of a training run, one task each.

    Each checkpoint is estimated by :func:`occamlab.slt.llc` with the same options and the
    sampler seed :func:`checkpoint_seed` (seed, index), so the trajectory does not depend on
    scheduling. Results are stored per checkpoint, and a rerun computes only the missing ones.

    Arguments:
        checkpoints: the trained model at each checkpoint (``nn.Module`` s), as a list or as a
            dict training step → model (the steps become the ``checkpoint`` coordinate).
        loss_fn: ``loss_fn(output, target)`` → mean loss (picklable, e.g. ``nn.MSELoss()``).
        data: ``(X, y)`` tensors or arrays with N rows; sent to the workers once.
        store, client, retries, progress: as for :func:`sweep`.
        seed: the base seed the per-checkpoint seeds derive from.
        **llc_options: passed to :func:`occamlab.slt.llc` (``nbeta``, ``chains``, ``draws``,
            ``step_size``, …); numbers, strings, booleans or lists of numbers.

    Returns:
        ``xarray.Dataset`` over dim ``checkpoint`` (and ``chain_estimates_dim_0`` for the
        per-chain estimates) with the LLC ``mean``, ``std``, ``se``, ``loss_star``, ``rhat``,
        ``ess``, … of each checkpoint, NaN and an ``error`` message where one failed.
    """
    if isinstance(checkpoints, Mapping):
        steps = [check_int(s, "checkpoint steps") for s in checkpoints]
        models = list(checkpoints.values())
    else:
        models = list(checkpoints)
        steps = list(range(len(models)))
    if not models:
        raise value_error("checkpoints", "a non-empty list or dict of nn.Module", checkpoints)
    for m in models:
        check_instance(m, "checkpoints entries", nn.Module, "a torch.nn.Module")
    if not (isinstance(data, tuple | list) and len(data) == 2):
        raise type_error("data", "a pair (X, y) of tensors or arrays", data)
    x, y = (torch.as_tensor(np.asarray(a)) if not isinstance(a, torch.Tensor) else a
            for a in data)
    seed = check_int(seed, "seed")
    retries = check_retries(retries)
    progress = check_bool(progress, "progress")
    for k, v in llc_options.items():
        vals = v if isinstance(v, list | tuple) else [v]
        for val in vals:
            if val is not None:
                _plain(val, k)
    arguments = {"checkpoints": [_state_digest(m) for m in models], "steps": steps,
                 "loss_fn": repr(loss_fn), "data": [digest(x), digest(y)], "seed": seed,
                 "options": llc_options}
    cells = CellStore(store, "llc_trajectory", (len(models),), arguments)
    items = [((i,), m, checkpoint_seed(seed, i)) for i, m in enumerate(models)]
    ok, bad = _run_cells(cells, items, _llc_task, (loss_fn, (x, y), llc_options),
                         what="llc_trajectory", client=client, retries=retries,
                         progress=progress)
    return cells.dataset(["checkpoint"], {"checkpoint": np.asarray(steps)},
                         {"store": str(store), "computed": ok, "failed": bad,
                          "cells": len(models)})
