"""Flow: a department file → sealed licenses in the registry (one task per chunk).

Business logic lives in :mod:`registry.batches`; this module only names the steps, retries them
and reports to the Prefect UI.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from registry.batches import BatchReport, finish_batch, iter_chunks, open_batch, process_chunk
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


@task(name="seal-chunk", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def seal_chunk_task(batch_id: int, chunk: pd.DataFrame) -> dict[str, int]:
    # Retrying is safe: process_chunk skips lines an earlier attempt already committed.
    settings = Settings.from_env()
    now = _now()
    with session_scope(shared_engine(settings.database_url)) as session:
        result = process_chunk(session, settings, batch_id, chunk, today=now.date(), at=now)
    return {"rows": len(result.rows), "accepted": result.accepted, "filtered": result.filtered,
            "rejected": result.rejected, "issued": result.issued}


@task(name="finish-batch", cache_policy=NO_CACHE)
def finish_batch_task(batch_id: int) -> dict[str, Any]:
    settings = Settings.from_env()
    with session_scope(shared_engine(settings.database_url)) as session:
        return finish_batch(session, batch_id, at=_now()).to_dict()


@flow(name="ingest-and-seal")
def ingest_and_seal(path: str, department: str, type_code: str, uploader: str = "prefect",
                    chunk_rows: int = 5_000) -> dict[str, Any]:
    """Ingest one department file: validate, filter, structure, seal and store every row."""
    logger = get_run_logger()
    opened = open_batch_task(path, department, type_code, uploader)
    if opened["already_ingested"]:
        logger.warning("%s was ingested before as batch %s: nothing to do", path, opened["batch_id"])
        return opened
    settings = Settings.from_env()
    for i, chunk in enumerate(iter_chunks(settings, BatchReport(**opened), chunk_rows=chunk_rows)):
        counts = seal_chunk_task(opened["batch_id"], quote(chunk))
        logger.info("batch %s chunk %d: %s", opened["batch_id"], i, counts)
    report = finish_batch_task(opened["batch_id"])
    create_table_artifact(
        key=f"batch-{report['batch_id']}",
        table=[{k: report[k] for k in ("file", "rows_read", "accepted", "filtered", "rejected")}],
        description=f"Batch {report['batch_id']} for {department}, type {type_code}",
    )
    return report
