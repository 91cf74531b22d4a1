"""The task that seals one planned chunk wherever a task runner sends it (a Dask worker).

It lives in a module of its own, imported by name, because a deployment loads its flow file as
a script: a task defined in that script would travel to the Dask scheduler and workers by
reference to a module they cannot import ("Error during deserialization of the task graph").
"""

from __future__ import annotations

import dataclasses

from prefect import task
from prefect.cache_policies import NO_CACHE

from registry.batch.run import ChunkJob, seal_and_store
from registry.config import Settings

__all__ = ["seal_job_task"]


@task(name="seal-chunk", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def seal_job_task(job: ChunkJob) -> dict[str, int]:
    """Seal and store one chunk. The job travels without the key passphrase; the worker takes
    it from its own environment (``LICREG_KEY_PASSPHRASE``), like every registry process."""
    seal = dataclasses.replace(job.seal, passphrase=Settings.from_env().require_passphrase())
    rows, accepted = seal_and_store(dataclasses.replace(job, seal=seal))
    return {"chunks": 1, "rows": rows, "accepted": accepted}
