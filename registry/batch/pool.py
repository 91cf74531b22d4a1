"""Where chunk jobs run: the seam between planning a batch and sealing its chunks.

:func:`registry.batch.run.process_chunks` plans each chunk in the process reading the file
and hands the :class:`~registry.batch.chunks.ChunkJob` to an executor. Anything with a
``submit(job)`` that returns a handle with ``result()`` is one (:class:`ChunkExecutor`):

- :class:`InProcess` seals here, one chunk after the other (small files, tests);
- :class:`LocalPool` seals in worker processes of this machine (the default for files of more
  than one chunk);
- the flows add a Prefect task runner, which may be a Dask cluster (:mod:`flows.ingest`).

The worker processes of :class:`LocalPool` start once per process, from a fork server that
has already imported the registry; scripts that use it must guard their entry point with
``if __name__ == "__main__":``, as :mod:`multiprocessing` requires. Workers die with the
process that started them (:func:`die_with_parent`): a killed ingest leaves no worker behind
to go on committing chunks.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from sqlalchemy import Engine

from registry.batch.chunks import ChunkCounts, ChunkJob, seal_and_store
from registry.batch.leases import process_alive

__all__ = ["KILL_VAR", "ChunkExecutor", "InProcess", "LocalPool", "ResultHandle",
           "default_workers", "die_with_parent", "kill_point"]

KILL_VAR = "LICREG_KILL_AT"
"""Test hook: ``LICREG_KILL_AT=STEP[:N[:SIGNAL]]`` sends this process SIGKILL (or SIGNAL, e.g.
``TERM``) the N-th time it reaches STEP — ``reading`` (a chunk read, not planned),
``sealing`` (a chunk handed to the workers), ``committing`` (a chunk stored, others on their
way), ``rendering`` (PDFs recorded, not yet moved in place). Read here, at the place it
kills, and nowhere else."""
_KILLS: dict[str, int] = {}


def kill_point(step: str) -> None:
    """Die here, as ``kill -9`` (or the signal named) would, when :data:`KILL_VAR` asks."""
    wanted = (os.environ.get(KILL_VAR) or "").split(":")
    if wanted[0] != step:
        return
    _KILLS[step] = _KILLS.get(step, 0) + 1
    if _KILLS[step] == int(wanted[1] if len(wanted) > 1 else 1):
        os.kill(os.getpid(), signal.Signals[f"SIG{wanted[2]}" if len(wanted) > 2 else "SIGKILL"])

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(owner: int) -> None:
    """Worker initializer: end this process when the one that made it dies.

    A worker's parent is the fork server, which exits when ``owner`` (the process that
    started the pool) does; Linux then sends the worker SIGKILL (``PR_SET_PDEATHSIG``).
    ``owner`` may have died before that was set: then the worker ends at once.
    """
    # Each worker is handed the write end of the fork server's "owner alive" pipe, which would
    # keep the fork server (and so the workers) alive after the owner died: let go of it.
    server: Any = multiprocessing.forkserver._forkserver  # private: no public way to do it
    if getattr(server, "_forkserver_alive_fd", None) is not None:
        os.close(server._forkserver_alive_fd)
        server._forkserver_alive_fd = None
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if not process_alive(owner) or os.getppid() == 1:
        os._exit(1)


class ResultHandle(Protocol):
    """A submitted job (a :class:`concurrent.futures.Future` is one)."""

    def result(self) -> ChunkCounts:
        """Wait for the job; what storing it did (or the error that stopped it)."""

    def done(self) -> bool:
        """Whether the job has finished, without waiting."""

    def cancel(self) -> bool:
        """Keep the job from starting if it has not yet; whether it was kept."""


class ChunkExecutor(Protocol):
    """Runs :func:`~registry.batch.chunks.seal_and_store` on jobs, somewhere."""

    in_flight: int
    """How many submitted jobs may wait at once (bounds the chunks held in memory)."""

    def submit(self, job: ChunkJob) -> ResultHandle: ...


class InProcess:
    """Seal each job in this process, as it is submitted, on ``engine``."""

    in_flight = 1

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine

    def submit(self, job: ChunkJob) -> ResultHandle:
        done: Future[ChunkCounts] = Future()
        done.set_result(seal_and_store(job, self.engine))
        return done


def default_workers() -> int:
    # On SQLite, storing a chunk holds the write lock for about half of a license's wall time
    # at a million rows: on 2 cores, 4 workers ran a 1,000,000-row file at 13,200 rows/s where
    # 3 ran it at 12,600 (and 100,000 rows alike).
    return (os.cpu_count() or 1) + 2


_POOLS: dict[int, ProcessPoolExecutor] = {}


class LocalPool:
    """Seal jobs in ``workers`` processes of this machine (default: two more than CPUs —
    workers waiting for the database's write lock leave their cores to ones that are
    sealing). The processes are kept for the life of this process."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = default_workers() if workers is None else workers
        self.in_flight = 2 * self.workers

    def _pool(self) -> ProcessPoolExecutor:
        pool = _POOLS.get(self.workers)
        if pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["registry.batch.chunks"])
            pool = _POOLS[self.workers] = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=die_with_parent,
                initargs=(os.getpid(),))
        return pool

    def submit(self, job: ChunkJob) -> ResultHandle:
        return self._pool().submit(seal_and_store, job)

    def run_all(self, jobs: Sequence[ChunkJob]) -> ChunkCounts:
        """Seal every job and wait for all of them (the work of one Prefect task)."""
        total = ChunkCounts(0, 0, 0)
        for handle in [self.submit(job) for job in jobs]:
            total = total.plus(handle.result())
        return total

    def start(self) -> None:
        """Start the worker processes now (a benchmark does, so their start-up is not timed)."""
        pool = self._pool()
        getpid: Callable[[], int] = os.getpid
        wait([pool.submit(getpid) for _ in range(self.workers)])
