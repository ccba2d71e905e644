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
