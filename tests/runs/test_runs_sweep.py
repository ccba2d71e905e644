"""runs.sweep on a real local Dask cluster: values, failures, resume, refusal of another grid."""

import functools
from collections import Counter

import _cells
import numpy as np
import pytest

from occamlab import runs

GRID = {"a": [1, 2, 3], "b": [0.5, 4.0]}


def expected(grid, seeds):
    """The closed form of _cells.quadratic on the whole grid: (a, b, seed) → a·b + seed."""
    a, b, s = np.meshgrid(grid["a"], grid["b"], seeds, indexing="ij")
    return a * b + s


def test_sweep_on_cluster_equals_serial_run_and_closed_form(client, tmp_path):
    ds = runs.sweep(_cells.quadratic, GRID, seeds=[0, 7], store=tmp_path / "c.zarr",
                    client=client, progress=False)
    serial = runs.sweep(_cells.quadratic, GRID, seeds=[0, 7], store=tmp_path / "s.zarr",
                        client="sync", progress=False)
    assert ds.y.dims == ("a", "b", "seed")
    assert list(ds.seed.values) == [0, 7] and list(ds.b.values) == [0.5, 4.0]
    # the cells are the same float64 operations wherever they run: equal exactly
    np.testing.assert_array_equal(ds.y.values, serial.y.values)
    np.testing.assert_array_equal(ds.vec.values, serial.vec.values)
    np.testing.assert_array_equal(ds.y.values, expected(GRID, [0, 7]))
    assert ds.vec.sel(a=3, b=4.0, seed=7).values.tolist() == [3.0, 4.0, 7.0]
    assert (ds.error.values == "").all() and ds.attrs["computed"] == 12


def test_failed_cells_recorded_rerun_computes_exactly_them(client, tmp_path):
    log, heal = tmp_path / "calls.log", tmp_path / "healed"
    fn = functools.partial(_cells.logged, log=str(log), heal=str(heal))
    store = tmp_path / "f.zarr"
    ds = runs.sweep(fn, GRID, seeds=2, store=store, client=client, retries=0, progress=False)
    failed = ds.error.sel(a=2) != ""
    assert bool(failed.all()) and ds.attrs["failed"] == 4 and ds.attrs["computed"] == 8
    assert "RuntimeError: cell a=2 b=0.5 failed on purpose" in set(ds.error.values.ravel())
    assert np.isnan(ds.y.sel(a=2)).all() and np.isnan(ds.vec.sel(a=2)).all()
    others = ds.y.where(ds.a != 2, drop=True)
    np.testing.assert_array_equal(others.values, expected({"a": [1, 3], "b": GRID["b"]}, [0, 1]))

    heal.touch()
    ds2 = runs.sweep(fn, GRID, seeds=2, store=store, client=client, retries=0, progress=False)
    assert ds2.attrs["computed"] == 4 and ds2.attrs["failed"] == 0
    np.testing.assert_array_equal(ds2.y.values, expected(GRID, [0, 1]))
    assert (ds2.error.values == "").all()
    calls = Counter(log.read_text().split())
    # every cell ran once, except the four a = 2 cells: once failing, once in the rerun
    assert all(n == (2 if c.startswith("2,") else 1) for c, n in calls.items())
    assert len(calls) == 12

    ds3 = runs.sweep(fn, GRID, seeds=2, store=store, client="sync", progress=False)
    assert ds3.attrs["computed"] == 0 and sum(Counter(log.read_text().split()).values()) == 16


def test_store_of_another_grid_is_refused_naming_the_difference(tmp_path):
    store = tmp_path / "g.zarr"
    runs.sweep(_cells.quadratic, {"a": [1], "b": [2]}, store=store, client="sync",
               progress=False)
    with pytest.raises(ValueError, match=r"grid\['b'\]: stored \[2\], given \[3\]"):
        runs.sweep(_cells.quadratic, {"a": [1], "b": [3]}, store=store, client="sync",
                   progress=False)
    with pytest.raises(ValueError, match=r"seeds: stored \[0\], given \[0, 1\]"):
        runs.sweep(_cells.quadratic, {"a": [1], "b": [2]}, seeds=2, store=store,
                   client="sync", progress=False)
    with pytest.raises(ValueError, match="holds a sweep run, not a kernel run"):
        from occamlab import kernels as K

        runs.kernel(K.serial(K.Dense(), K.Relu(), K.Dense()), np.ones((2, 3)), store=store,
                    client="sync", progress=False)


def test_a_cell_returning_the_wrong_thing_is_recorded(tmp_path):
    def bad(a, seed):
        return {"y": "text"} if a == 1 else {"y": float(a)}

    ds = runs.sweep(bad, {"a": [0, 1]}, store=tmp_path / "b.zarr", client="sync",
                    progress=False)
    assert ds.y.values.ravel().tolist()[0] == 0.0 and np.isnan(ds.y.values.ravel()[1])
    assert "returned 'y' must be a real number" in str(ds.error.values.ravel()[1])


def test_bad_arguments_name_the_fix(tmp_path):
    s = tmp_path / "x.zarr"
    with pytest.raises(TypeError, match="fn must be a callable"):
        runs.sweep(3, {"a": [1]}, store=s, client="sync")
    with pytest.raises(ValueError, match="non-empty list of distinct values"):
        runs.sweep(_cells.quadratic, {"a": [1, 1]}, store=s, client="sync")
    with pytest.raises(ValueError, match="grid keys must be argument names other than 'seed'"):
        runs.sweep(_cells.quadratic, {"seed": [1]}, store=s, client="sync")
    with pytest.raises(ValueError, match="seeds must be a count"):
        runs.sweep(_cells.quadratic, {"a": [1]}, seeds=[1, 1], store=s, client="sync")
    with pytest.raises(TypeError, match="client must be None"):
        runs.sweep(_cells.quadratic, {"a": [1]}, store=s, client=3.5)
