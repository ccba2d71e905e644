"""Suite-wide settings."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_intra_op_thread():
    # The tests work on small tensors, where torch's intra-op threads cost a barrier per op and
    # gain little; beside other work on a 2-core machine they measured 5–30× slower. Library code
    # that parallelizes by itself (kernel blocks) then runs its blocks serially.
    with_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(with_threads)


def pytest_collection_modifyitems(config, items):
    # GPU checks run with `make test-gpu` (-m gpu); without CUDA they are skipped, not failed.
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def ink():
    """The fraction of a PNG's pixels that are not near-white: what a figure actually drew.

    An empty 8 × 3.5 in pair of axes inks 0.017 of its pixels (frames, ticks, labels); a line
    plot ~0.06; a heat map fills most of its axes (> 0.5).
    """
    def fraction(path) -> float:
        import matplotlib.pyplot as plt

        img = plt.imread(path)[..., :3]
        return float((img < 0.9).any(-1).mean())

    return fraction


@pytest.fixture(scope="session")
def report_section():
    """``run(section_module, key, title, out, n_train=, n_test=)``: one report section in quick
    mode on MNIST-1D (data seed 42, study seed 0); returns ``(Section, Study)``."""
    def run(module, key: str, title: str, out, *, n_train: int, n_test: int):
        from occamlab.report._page import Section
        from occamlab.report._study import Study
        from occamlab.tasks import mnist1d

        study = Study(data=mnist1d(n_train=n_train, n_test=n_test, seed=42), quick=True, seed=0)
        sec = Section(key, title, out)
        module.section(sec, study)
        return sec, study

    return run
