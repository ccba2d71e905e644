"""runs.kernel: tiles on a local cluster equal arch.kernel; resume; refusal of other inputs."""

import numpy as np
import pytest
import torch

from occamlab import kernels as K
from occamlab import runs

# a CNN with global average pooling (position pairs carried) on short signals: cheap, but the
# same recursion as the report's CNN+GAP
ARCH = K.parse_spec("conv(3,circular,w=1.41,b=0.1) relu conv(3,circular,w=1.41,b=0.1) relu "
                    "gap dense")


def signals(n, seed):
    return torch.randn(n, 1, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_tiled_kernel_equals_arch_kernel_and_resumes(client, tmp_path):
    x = signals(300, 0)
    x[17] = x[250]  # identical inputs in different tiles keep their exact diagonal kernel
    ref = ARCH.kernel(x)
    sk = runs.kernel(ARCH, x, store=tmp_path / "k.zarr", tile=64, client=client,
                     progress=False)
    assert sk.tiles == 15 and sk.computed == 15  # 5 × 5 tiles, upper triangle
    got = sk.load()
    # the same float64 recursion on other blocks: equal up to rounding (1e-12 absolute on
    # entries of order 1)
    torch.testing.assert_close(got.nngp, ref.nngp, rtol=0, atol=1e-12)
    torch.testing.assert_close(got.ntk, ref.ntk, rtol=0, atol=1e-12)
    assert torch.equal(got.ntk, got.ntk.T)  # mirrored tiles: exactly symmetric
    # slicing reads part of the store
    np.testing.assert_allclose(sk.ntk[10:20, 200:230], ref.ntk[10:20, 200:230].numpy(),
                               rtol=0, atol=1e-12)
    again = runs.kernel(ARCH, x, store=tmp_path / "k.zarr", tile=64, client=client,
                        progress=False)
    assert again.computed == 0
    with pytest.raises(ValueError, match=r"tile: stored 64, given 32"):
        runs.kernel(ARCH, x, store=tmp_path / "k.zarr", tile=32, client="sync")
    with pytest.raises(ValueError, match=r"x1: stored"):
        runs.kernel(ARCH, x + 1, store=tmp_path / "k.zarr", tile=64, client="sync")


def test_rectangular_kernel_on_cluster(client, tmp_path):
    x1, x2 = signals(70, 1), signals(45, 2)
    sk = runs.kernel(ARCH, x1, x2, store=tmp_path / "r.zarr", tile=32, client=client,
                     batch_size=7, progress=False)
    assert sk.tiles == 3 * 2 and sk.shape == (70, 45)
    ref = ARCH.kernel(x1, x2)
    torch.testing.assert_close(sk.load().ntk, ref.ntk, rtol=0, atol=1e-12)
    torch.testing.assert_close(sk.load().nngp, ref.nngp, rtol=0, atol=1e-12)


class Interrupted(K.Serial):
    """The same architecture (same repr), stopping like Ctrl-C after ``limit`` tiles."""

    def __init__(self, arch, limit):
        super().__init__(*arch.layers)
        self.limit, self.calls = limit, 0

    def kernel(self, x1, x2=None, *args, **kw):
        if x1.shape[0] > 1:  # not the one-input check before the run
            self.calls += 1
            if self.calls > self.limit:
                raise KeyboardInterrupt
        return super().kernel(x1, x2, *args, **kw)


def test_interrupted_run_resumes_only_the_rest(tmp_path):
    x = signals(100, 3)
    store = tmp_path / "i.zarr"
    with pytest.raises(KeyboardInterrupt):
        runs.kernel(Interrupted(ARCH, 4), x, store=store, tile=25, client="sync",
                    progress=False)
    sk = runs.kernel(ARCH, x, store=store, tile=25, client="sync", progress=False)
    assert sk.tiles == 10 and sk.computed == 10 - 4
    torch.testing.assert_close(sk.load().ntk, ARCH.kernel(x).ntk, rtol=0, atol=1e-12)


def test_failed_tiles_are_named_and_retried(tmp_path):
    x = signals(20, 4)
    store = tmp_path / "e.zarr"

    class Failing(K.Serial):
        def kernel(self, x1, x2=None, *args, **kw):
            if x2 is not None:
                raise MemoryError("out of memory")
            return super().kernel(x1, x2, *args, **kw)

    with pytest.raises(RuntimeError, match=r"1 of 3 kernel tiles failed .*MemoryError: out of "
                       "memory.*run again"):
        runs.kernel(Failing(*ARCH.layers), x, store=store, tile=10, client="sync",
                    progress=False)
    assert runs.kernel(ARCH, x, store=store, tile=10, client="sync", progress=False).computed == 1


def test_bad_kernel_arguments(tmp_path):
    with pytest.raises(TypeError, match="arch must be an occamlab kernels architecture"):
        runs.kernel("dense", np.ones((3, 2)), store=tmp_path / "a.zarr", client="sync")
    with pytest.raises(ValueError, match="tile must be an integer ≥ 1"):
        runs.kernel(ARCH, signals(3, 0), store=tmp_path / "a.zarr", tile=0, client="sync")
    with pytest.raises(ValueError, match="device must be a torch device"):
        runs.kernel(ARCH, signals(3, 0), store=tmp_path / "a.zarr", device="gpu", client="sync")
    with pytest.raises(ValueError, match="same feature shape"):
        runs.kernel(ARCH, signals(3, 0), torch.ones(2, 1, 5), store=tmp_path / "a.zarr",
                    client="sync")
