"""Flow: a department file → sealed licenses in the registry (a task per group of chunks).

Business logic lives in :mod:`registry.batches`; this module only names the steps, retries them
and reports to the Prefect UI.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from registry.batches import BatchReport, finish_batch, iter_chunks, open_batch, process_chunks
from registry.config import Settings
from registry.db import session_scope, shared_engine


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@task(name="open-batch", cache_policy=NO_CACHE)
def open_batch_task(path: str, department: str, type_code: str, uploader: str) -> dict[str, Any]:
    settings = Settings.from_env()
    with session_scope(shared_engine(settings.database_url)) as session:
        report = open_batch(session, settings, Path(path), department_uscc=department,
                            type_code=type_code, uploader=uploader, at=_now())
    return report.to_dict()


@task(name="seal-chunks", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def seal_chunks_task(batch_id: int, chunks: list[pd.DataFrame]) -> dict[str, int]:
    # Retrying is safe: chunks an earlier attempt committed are skipped line by line.
    settings = Settings.from_env()
    now = _now()
    counts = process_chunks(shared_engine(settings.database_url), settings, batch_id, chunks,
                            today=now.date(), at=now)
    return {"chunks": counts.chunks, "rows": counts.rows, "accepted": counts.accepted}


@task(name="finish-batch", cache_policy=NO_CACHE)
def finish_batch_task(batch_id: int) -> dict[str, Any]:
    settings = Settings.from_env()
    with session_scope(shared_engine(settings.database_url)) as session:
        return finish_batch(session, batch_id, at=_now()).to_dict()


@flow(name="ingest-and-seal")
def ingest_and_seal(path: str, department: str, type_code: str, uploader: str = "prefect",
                    chunk_rows: int = 5_000, chunks_per_task: int = 10) -> dict[str, Any]:
    """Ingest one department file: validate, filter, structure, seal and store every row."""
    logger = get_run_logger()
    opened = open_batch_task(path, department, type_code, uploader)
    if opened["already_ingested"]:
        logger.warning("%s was ingested before as batch %s: nothing to do", path, opened["batch_id"])
        return opened
    settings = Settings.from_env()
    chunks = iter_chunks(settings, BatchReport(**opened), chunk_rows=chunk_rows)
    # A task per group of chunks: tens of task runs for a million rows, never one per license
    # (PREFECT.md §2); inside a task, worker processes seal and store the chunks.
    while group := list(itertools.islice(chunks, chunks_per_task)):
        counts = seal_chunks_task(opened["batch_id"], quote(group))
        logger.info("batch %s: %s", opened["batch_id"], counts)
    report = finish_batch_task(opened["batch_id"])
    create_table_artifact(
        key=f"batch-{report['batch_id']}",
        table=[{k: report[k] for k in ("file", "rows_read", "accepted", "filtered", "rejected")}],
        description=f"Batch {report['batch_id']} for {department}, type {type_code}",
    )
    return report
