"""The tasks that seal one planned chunk, wherever the flow's task runner sends them.

:class:`TaskRunnerExecutor` is the Prefect side of the batch executor seam
(:mod:`registry.batch.pool`): the library's batch loop plans every chunk and submits it here;
each chunk becomes one task run on the flow's task runner. On the default (thread) runner the
task hands its chunk to this machine's worker processes; on a Dask runner it seals the chunk on
the Dask worker. A retried task is safe: a chunk already committed stores nothing again.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture

from registry.batch.chunks import ChunkCounts, ChunkJob, seal_and_store, without_passphrase
from registry.batch.pool import LocalPool, ResultHandle
from registry.config import Settings

__all__ = ["TaskRunnerExecutor", "seal_chunk_here", "seal_chunk_remote"]


@task(name="seal-chunk", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def seal_chunk_here(job: ChunkJob) -> ChunkCounts:
    """Seal and store one chunk in this machine's worker processes."""
    return LocalPool().submit(job).result()


@task(name="seal-chunk", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def seal_chunk_remote(job: ChunkJob) -> ChunkCounts:
    """Seal and store one chunk where the task runs (a Dask worker). The job travels without
    the key passphrase; the worker takes it from its own environment
    (``LICREG_KEY_PASSPHRASE``), like every registry process."""
    seal = dataclasses.replace(job.seal, passphrase=Settings.from_env().require_passphrase())
    return seal_and_store(dataclasses.replace(job, seal=seal))


class _Handle:
    """A Prefect future as the batch loop's :class:`~registry.batch.pool.ResultHandle`."""

    def __init__(self, future: PrefectFuture[ChunkCounts]) -> None:
        self.future = future

    def result(self) -> ChunkCounts:
        return ChunkCounts(*self.future.result())

    def _wrapped(self) -> Any:
        return getattr(self.future, "wrapped_future", None)

    def done(self) -> bool:
        wrapped = self._wrapped()
        return bool(wrapped is not None and wrapped.done())

    def cancel(self) -> bool:
        wrapped = self._wrapped()
        return bool(wrapped is not None and wrapped.cancel())


class TaskRunnerExecutor:
    """Submit each chunk as a run of ``chunk_task`` on the current flow's task runner, at most
    ``in_flight`` waiting (so a million rows never sit in memory); ``remote`` jobs travel
    without the passphrase."""

    def __init__(self, chunk_task: Task[[ChunkJob], ChunkCounts], *, in_flight: int,
                 remote: bool = False) -> None:
        self.task = chunk_task
        self.in_flight = in_flight
        self.remote = remote

    def submit(self, job: ChunkJob) -> ResultHandle:
        # Not quote()d: the annotation does not survive the trip to a Dask worker, and a job is
        # one DataFrame plus small fields (a few ms to walk, PREFECT.md §3).
        return _Handle(self.task.submit(without_passphrase(job) if self.remote else job))
