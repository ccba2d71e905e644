"""Where tasks run: a Dask cluster (local, by address, or any ``distributed.Client``) or in-process.

Every entry point of :mod:`occamlab.runs` takes ``client=`` and goes through :func:`executor`,
which yields an :class:`Executor`: ``run`` tasks (their inputs sent to the workers once) and
receive each one's outcome as it completes. Dask (``distributed``) does the scheduling, retries
and the rescheduling of tasks whose worker died; this module only adapts the four ways of naming
where the work runs. Dask, Zarr and xarray are imported when a run starts, not with ``occamlab``.
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


#: rounds of sending the inputs again when a worker took the last copy of them with it
_INPUT_ROUNDS = 3


def _plain(arg: Any) -> bool:
    return arg is None or isinstance(arg, bool | int | float | str)


class Executor:
    """Runs tasks ``fn(item, *args)`` and yields an :class:`Outcome` per item as it completes.

    With ``client=None`` (in-process, the ``"sync"`` mode) tasks run one after the other here;
    with a ``distributed.Client`` each item is one Dask task, retried ``retries`` times when it
    raises, and rescheduled by Dask on another worker when its worker dies. Arguments other
    than plain numbers and strings are sent to every worker once (``scatter``, broadcast).
    Dask's memory manager may still keep a single copy of such an input, and a worker that dies
    with it makes Dask cancel the tasks needing it: those are sent again with fresh inputs.
    """

    def __init__(self, client: Any = None):
        self.client = client

    def run(self, fn: Callable, items: Sequence[Any], *args: Any, retries: int = 1,
            name: str = "task", progress: bool = True,
            description: str = "tasks") -> Iterator[Outcome]:
        work = (self._run_here(fn, items, args, retries) if self.client is None
                else self._run_dask(fn, items, args, retries, name))
        yield from track(work, description=description, total=len(items),
                         enabled=progress and len(items) > 0)

    def _run_dask(self, fn, items, args, retries, name) -> Iterator[Outcome]:
        from concurrent.futures import CancelledError

        from distributed import as_completed

        todo = list(items)
        for _ in range(_INPUT_ROUNDS):
            sent = [a if _plain(a) else self.client.scatter(a, broadcast=True, hash=False)
                    for a in args]
            token = uuid.uuid4().hex[:8]
            futures = {}
            for k, item in enumerate(todo):
                f = self.client.submit(fn, item, *sent, key=f"{name}-{k}-{token}", pure=False,
                                       retries=retries)
                futures[f.key] = (f, item)
            lost = []
            try:
                for f in as_completed([f for f, _ in futures.values()]):
                    _, item = futures.pop(f.key)
                    # result() also waits when a finished task's result was lost with its
                    # worker (Dask computes it again): the status read first may be stale
                    try:
                        value = f.result()
                    except CancelledError:  # its inputs were lost with a worker
                        lost.append(item)
                        continue
                    except Exception as e:  # the task's own exception
                        yield Outcome(item, error=_message(e))
                    else:
                        yield Outcome(item, value=value)
                    finally:
                        f.release()
            finally:  # interrupted (Ctrl-C, or the caller stopped): drop what has not started
                if futures:
                    self.client.cancel([f for f, _ in futures.values()])
            if not lost:
                return
            todo = lost
        for item in todo:
            yield Outcome(item, error=f"its inputs were lost with their workers {_INPUT_ROUNDS} "
                                      "times (Dask cancelled the task)")

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
