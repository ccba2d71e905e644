"""Where tasks run: a Dask cluster (local, by address, or any ``distributed.Client``) or in-process.

Every entry point of :mod:`occamlab.runs` takes ``client=`` and goes through :func:`executor`,
which yields an :class:`Executor`: ``scatter`` shared inputs once, ``run`` tasks and receive each
one's outcome as it completes. Dask (``distributed``) does the scheduling, retries and the
rescheduling of tasks whose worker died; this module only adapts the four ways of naming where
the work runs. Dask, Zarr and xarray are imported when a run starts, not with ``occamlab``.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from occamlab._check import check_int, type_error
from occamlab._progress import track

__all__ = ["Executor", "Outcome", "executor", "say", "worker_malloc"]

_MALLOC_TUNED = False


def worker_malloc() -> None:
    """Let glibc reuse freed memory in this (worker) process: called first by every task.

    Dask starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also freezes glibc's mmap
    threshold at 128 KiB: every temporary array above it (a kernel block's are MiBs) is then
    mapped, zero-filled by the OS and unmapped again, op after op. That measured 1.7-2× slower
    per kernel tile than the same process without it. These are glibc's own dynamic limits
    (mmap above 32 MiB, trim when 64 MiB are free at the top of the heap).
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 32 << 20)
    libc.mallopt(m_trim_threshold, 64 << 20)


def say(message: str, enabled: bool = True) -> None:
    """One line of news about a run on stderr (silenced with ``progress=False``)."""
    if enabled:
        print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Outcome:
    """What became of one task: its ``value``, or the ``error`` message it raised."""

    item: Any
    value: Any = None
    error: str | None = None


def _message(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Executor:
    """Runs tasks ``fn(item, *shared)`` and yields an :class:`Outcome` per item as it completes.

    With ``client=None`` (in-process, the ``"sync"`` mode) tasks run one after the other here;
    with a ``distributed.Client`` each item is one Dask task, retried ``retries`` times when it
    raises, and rescheduled by Dask on another worker when its worker dies.
    """

    def __init__(self, client: Any = None):
        self.client = client

    def scatter(self, obj: Any) -> Any:
        """Send ``obj`` to the workers once (to all of them, so losing one loses no input)."""
        if self.client is None:
            return obj
        return self.client.scatter(obj, broadcast=True, hash=False)

    def run(self, fn: Callable, items: Sequence[Any], *shared: Any, retries: int = 1,
            name: str = "task", progress: bool = True,
            description: str = "tasks") -> Iterator[Outcome]:
        if self.client is None:
            yield from track(self._run_here(fn, items, shared, retries), description=description,
                             total=len(items), enabled=progress and len(items) > 0)
            return
        from distributed import as_completed

        token = uuid.uuid4().hex[:8]
        futures = {}
        for k, item in enumerate(items):
            f = self.client.submit(fn, item, *shared, key=f"{name}-{k}-{token}", pure=False,
                                   retries=retries)
            futures[f.key] = (f, item)
        try:
            done = as_completed([f for f, _ in futures.values()])
            for f in track(done, description=description, total=len(items),
                           enabled=progress and len(items) > 0):
                _, item = futures.pop(f.key)
                if f.status == "finished":
                    yield Outcome(item, value=f.result())
                elif f.status == "error":
                    yield Outcome(item, error=_message(f.exception()))
                else:  # cancelled, e.g. by the scheduler losing the task's inputs
                    yield Outcome(item, error=f"the Dask task was {f.status}")
                f.release()
        finally:  # interrupted (Ctrl-C, or the caller stopped): drop what has not started
            if futures:
                self.client.cancel([f for f, _ in futures.values()])

    @staticmethod
    def _run_here(fn, items, shared, retries) -> Iterator[Outcome]:
        for item in items:
            for attempt in range(retries + 1):
                try:
                    value = fn(item, *shared)
                except Exception as e:  # a task's failure is recorded; Ctrl-C is not caught
                    if attempt == retries:
                        yield Outcome(item, error=_message(e))
                else:
                    yield Outcome(item, value=value)
                    break


def _local_cluster(progress: bool):
    from dask.system import CPU_COUNT
    from distributed import Client, LocalCluster

    # a failing cell is recorded in the store: the workers' own error logs would only repeat it
    cluster = LocalCluster(n_workers=CPU_COUNT, threads_per_worker=1, processes=True,
                           silence_logs=logging.CRITICAL)
    client = Client(cluster)
    say(f"started a local Dask cluster: {CPU_COUNT} worker processes, 1 thread each; "
        f"dashboard {cluster.dashboard_link}", progress)
    return cluster, client


@contextmanager
def executor(client: Any, *, progress: bool = True) -> Iterator[Executor]:
    """The :class:`Executor` for a ``client=`` argument.

    Arguments:
        client: ``None`` starts a ``LocalCluster`` with one single-threaded worker process per
            core (closed when the run ends); a string is the address of a running scheduler
            (``"tcp://host:8786"``); a ``distributed.Client`` is used as it is (left open); a
            ``distributed`` cluster object (e.g. :func:`occamlab.runs.slurm_cluster`) gets a
            client for this run; ``"sync"`` runs every task here, one after the other.
        progress: print the dashboard address when a cluster is started here.
    """
    if isinstance(client, str) and client == "sync":
        yield Executor(None)
        return
    if client is None:
        cluster, own = _local_cluster(progress)
        try:
            yield Executor(own)
        finally:
            own.close()
            cluster.close()
        return
    from distributed import Client
    from distributed.deploy import Cluster

    if isinstance(client, Client):
        yield Executor(client)
        return
    if isinstance(client, str | Cluster):
        try:
            own = Client(client, timeout="30s")
        except OSError as e:
            raise ValueError(f"could not reach the Dask scheduler at {client!r}: {e}") from None
        if isinstance(client, str):
            say(f"connected to the Dask scheduler at {client}; dashboard {own.dashboard_link}",
                progress)
        try:
            yield Executor(own)
        finally:
            own.close()
        return
    raise type_error("client", 'None, "sync", a scheduler address, a distributed.Client or a '
                     "Dask cluster", client)


def check_retries(retries: Any) -> int:
    return check_int(retries, "retries", ge=0)
