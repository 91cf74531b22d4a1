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

from registry.batch_reports import batch_detail
from registry.batches import (
    BatchReport,
    finish_batch,
    iter_chunks,
    open_batch,
    process_chunks,
    record_failure,
)
from registry.config import Settings
from registry.db import session_scope, shared_engine
from registry.errors import IngestError
from registry.ingest.mapping import load_mapping
from registry.ingest.reader import ReadOptions


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@task(name="open-batch", cache_policy=NO_CACHE)
def open_batch_task(path: str, department: str, type_code: str, uploader: str,
                    mapping: str | None = None, sheet: str | None = None,
                    header_row: int | None = None) -> dict[str, Any]:
    settings = Settings.from_env()
    m = load_mapping(Path(mapping), type_code=type_code) if mapping else None
    options = ReadOptions(sheet=sheet or (m.sheet if m else None),
                          header_row=header_row or (m.header_row if m and m.header_row else 1),
                          mapping=m.columns if m else {}, ignore=m.ignore if m else (),
                          type_code=type_code)
    with session_scope(shared_engine(settings.database_url)) as session:
        report = open_batch(session, settings, Path(path), department_uscc=department,
                            type_code=type_code, uploader=uploader, at=_now(), options=options)
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
        report = finish_batch(session, batch_id, at=_now()).to_dict()
        return {**report, "reasons": batch_detail(session, batch_id).reasons}


@task(name="fail-batch", cache_policy=NO_CACHE)
def fail_batch_task(batch_id: int, error: str) -> dict[str, Any]:
    settings = Settings.from_env()
    with session_scope(shared_engine(settings.database_url)) as session:
        report = record_failure(session, batch_id, error).to_dict()
        return {**report, "reasons": batch_detail(session, batch_id).reasons}


def _publish(report: dict[str, Any], department: str, type_code: str) -> None:
    """The batch as a table artifact: its outcome counts, then one row per reason kind."""
    table: list[dict[str, Any]] = [
        {"what": k.replace("_", " "), "rows": report[k]}
        for k in ("rows_read", "accepted", "filtered", "rejected", "issued")]
    table += [{"what": f"reason {code}", "rows": n}
              for code, n in (report.get("reasons") or {}).items()]
    if report.get("error"):
        table.append({"what": f"failed: {report['error']}", "rows": None})
    create_table_artifact(
        key=f"batch-{report['batch_id']}",
        table=table,
        description=f"Batch {report['batch_id']}: {report['file']} for {department}, type "
                    f"{type_code}, {report['status']}",
    )


@flow(name="ingest-and-seal")
def ingest_and_seal(path: str, department: str, type_code: str, uploader: str = "prefect",
                    chunk_rows: int = 5_000, chunks_per_task: int = 10,
                    mapping: str | None = None, sheet: str | None = None,
                    header_row: int | None = None) -> dict[str, Any]:
    """Ingest one department file (CSV, .xlsx, JSON, JSON Lines, PDF, .zip or folder of PDFs):
    validate, filter, structure, seal and store every row; publish a table of what happened."""
    logger = get_run_logger()
    opened = open_batch_task(path, department, type_code, uploader, mapping, sheet, header_row)
    if opened["already_ingested"]:
        logger.info("%s was ingested before as batch %s: nothing to do", path,
                       opened["batch_id"])
        return opened
    if opened["status"] == "failed":
        logger.error("batch %s failed: %s", opened["batch_id"], opened["error"])
        report = fail_batch_task(opened["batch_id"], opened["error"])
        _publish(report, department, type_code)
        return report
    settings = Settings.from_env()
    chunks = iter_chunks(settings, BatchReport(**opened), chunk_rows=chunk_rows)
    rows = 0
    # A task per group of chunks: tens of task runs for a million rows, never one per license
    # (PREFECT.md §2); inside a task, worker processes seal and store the chunks.
    while True:
        try:
            group = list(itertools.islice(chunks, chunks_per_task))
        except IngestError as exc:  # the file breaks part-way: stored rows stay, batch fails
            logger.error("batch %s failed after %d rows: %s", opened["batch_id"], rows, exc)
            report = fail_batch_task(opened["batch_id"], str(exc))
            _publish(report, department, type_code)
            return report
        if not group:
            break
        counts = seal_chunks_task(opened["batch_id"], quote(group))
        rows += sum(len(c) for c in group)
        done, total = group[-1].attrs.get("progress", (0, 0))
        share = f" ({100 * done // total}% of the file)" if total else ""
        logger.info("batch %s: %d rows read%s; this task: %s", opened["batch_id"], rows, share,
                    counts)
    report = finish_batch_task(opened["batch_id"])
    _publish(report, department, type_code)
    return report
