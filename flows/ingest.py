"""Flows: department files → sealed licenses in the registry.

- ``ingest-and-seal``: one file, given by path (a task per group of chunks; inside a task,
  this machine's worker processes seal and store the chunks);
- ``ingest-inbox``: every file waiting in the department inboxes (:mod:`registry.batch.inbox`),
  each taken once, ingested as above, archived with its report;
- ``ingest-and-seal-dask``: one file, its chunks sealed and stored on a Dask cluster
  (``LICREG_DASK_ADDRESS``, e.g. ``tcp://scheduler:8786``; a temporary local cluster without
  it) — for stock that outgrows one machine's cores.

Business logic lives in :mod:`registry.batch.run`; this module only names the steps, retries
them and reports to the Prefect UI: a progress artifact while a batch runs, a table artifact
of its outcome, and a table of its first rejected rows with the file, row and field.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote
from prefect_dask import DaskTaskRunner

from flows.chunks import seal_job_task
from registry.batch.inbox import InboxFile, default_roots, drain
from registry.batch.leases import BatchBusyError, release_batch
from registry.batch.reports import closing_report
from registry.batch.run import (
    BatchReport,
    finish_batch,
    iter_chunks,
    open_batch,
    plan_chunk,
    process_chunks,
    record_failure,
)
from registry.config import Settings
from registry.db import WalRestarts, session_scope, shared_engine
from registry.errors import IngestError
from registry.ingest.mapping import load_mapping
from registry.ingest.reader import ReadOptions

__all__ = ["ingest_and_seal", "ingest_and_seal_dask", "ingest_inbox"]

REJECTS_SHOWN = 20
"""Rejected rows listed in a batch's artifact (``licreg batch rows`` has them all)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _settings() -> Settings:
    return Settings.from_env()


@task(name="open-batch", cache_policy=NO_CACHE)
def open_batch_task(path: str, department: str, type_code: str, uploader: str,
                    mapping: str | None = None, sheet: str | None = None,
                    header_row: int | None = None) -> dict[str, Any]:
    settings = _settings()
    m = load_mapping(Path(mapping), type_code=type_code) if mapping else None
    options = ReadOptions(sheet=sheet or (m.sheet if m else None),
                          header_row=header_row or (m.header_row if m and m.header_row else 1),
                          mapping=m.columns if m else {}, ignore=m.ignore if m else (),
                          type_code=type_code)
    with session_scope(shared_engine(settings.database_url)) as session:
        report = open_batch(session, settings, Path(path), department_uscc=department,
                            type_code=type_code, uploader=uploader, at=_now(), options=options,
                            runner=f"flow run {flow_run.id}")
    return report.to_dict()


@task(name="seal-chunks", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def seal_chunks_task(batch_id: int, chunks: list[pd.DataFrame]) -> dict[str, int]:
    # Retrying is safe: chunks an earlier attempt committed are skipped line by line.
    settings = _settings()
    now = _now()
    counts = process_chunks(shared_engine(settings.database_url), settings, batch_id, chunks,
                            today=now.date(), at=now)
    return {"chunks": counts.chunks, "rows": counts.rows, "accepted": counts.accepted}


@task(name="finish-batch", cache_policy=NO_CACHE)
def finish_batch_task(batch_id: int) -> dict[str, Any]:
    with session_scope(shared_engine(_settings().database_url)) as session:
        return closing_report(session, finish_batch(session, batch_id, at=_now()).to_dict(),
                              rejects=REJECTS_SHOWN)


@task(name="fail-batch", cache_policy=NO_CACHE)
def fail_batch_task(batch_id: int, error: str) -> dict[str, Any]:
    with session_scope(shared_engine(_settings().database_url)) as session:
        return closing_report(session, record_failure(session, batch_id, error).to_dict(),
                              rejects=REJECTS_SHOWN)


@task(name="release-batch", cache_policy=NO_CACHE)
def release_batch_task(batch_id: int) -> None:
    with session_scope(shared_engine(_settings().database_url)) as session:
        release_batch(session, batch_id)


def _publish(report: dict[str, Any], department: str, type_code: str) -> None:
    """The batch as table artifacts: outcome counts and reason kinds, then its first rejected
    rows, each with the file, row and field."""
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
        _sync=True,  # also when called from an async flow's body (see ingest_and_seal)
    )
    if report.get("first_rejects"):
        create_table_artifact(
            key=f"batch-{report['batch_id']}-rejects",
            table=report["first_rejects"],
            description=f"Batch {report['batch_id']}: the first {len(report['first_rejects'])} "
                        f"of {report['rejected']} rejected rows (every one: "
                        f"`licreg batch rows {report['batch_id']} --outcome rejected`)",
            _sync=True,
        )


class _Progress:
    """A progress artifact for a batch, moved on after each group of chunks."""

    def __init__(self, opened: dict[str, Any]) -> None:
        self.id = create_progress_artifact(
            progress=0.0, description=f"Batch {opened['batch_id']}: {opened['file']}",
            _sync=True)  # also when called from an async flow's body (see ingest_and_seal)

    def update(self, chunk: pd.DataFrame) -> None:
        done, total = chunk.attrs.get("progress", (0, 0))
        if total:
            update_progress_artifact(self.id, progress=round(100 * done / total, 1), _sync=True)

    def finish(self) -> None:
        update_progress_artifact(self.id, progress=100.0, _sync=True)


def _seal_here(batch_id: int, chunks: Iterator[pd.DataFrame], chunks_per_task: int,
               progress: _Progress) -> int:
    """Groups of chunks as tasks; this machine's worker processes seal them. Rows read.

    A task ends only when its chunks are stored, so the worker pool drains at every task
    boundary: groups of 20 chunks (100,000 rows) keep that to ten pauses per million rows.
    """
    logger = get_run_logger()
    rows = 0
    while group := list(itertools.islice(chunks, chunks_per_task)):
        counts = seal_chunks_task(batch_id, quote(group))
        rows += sum(len(c) for c in group)
        progress.update(group[-1])
        logger.info("batch %s: %d rows read; this task: %s", batch_id, rows, counts)
    return rows


def _seal_on_runner(batch_id: int, chunks: Iterator[pd.DataFrame], in_flight: int,
                    progress: _Progress) -> int:
    """Each chunk planned here and sealed as a task on the flow's task runner (Dask). Rows
    read. At most ``in_flight`` chunks wait at once, so a million rows never sit in memory."""
    settings = _settings()
    engine = shared_engine(settings.database_url)
    wal = WalRestarts(engine)
    logger = get_run_logger()
    pending: collections.deque[PrefectFuture[dict[str, int]]] = collections.deque()
    seen: set[str] = set()
    rows = 0
    for chunk in chunks:
        now = _now()
        with session_scope(engine) as session:
            job = plan_chunk(session, settings, batch_id, chunk, today=now.date(), at=now,
                             seen_in_run=seen)
        rows += len(chunk)
        if job is not None:
            keyless = dataclasses.replace(job, seal=dataclasses.replace(job.seal, passphrase=b""))
            # Not quote()d: the annotation does not survive the trip to a Dask worker, and a
            # job is one DataFrame plus small fields (a few ms to walk, PREFECT.md §3).
            pending.append(seal_job_task.submit(keyless))
        while len(pending) > in_flight:
            pending.popleft().result()
            wal.chunk_committed()
        progress.update(chunk)
    for future in pending:
        future.result()
        wal.chunk_committed()
    logger.info("batch %s: %d rows read, sealed by the task runner's workers", batch_id, rows)
    return rows


def _ingest(path: str, department: str, type_code: str, *, uploader: str, chunk_rows: int,
            chunks_per_task: int = 20, in_flight: int | None = None, mapping: str | None = None,
            sheet: str | None = None, header_row: int | None = None) -> dict[str, Any]:
    """The steps of one file: ``chunks_per_task`` chunks per task on this machine's workers,
    or, with ``in_flight``, a task per chunk on the flow's task runner (at most ``in_flight``
    waiting). Raises :class:`BatchBusyError` when another run has the batch."""
    logger = get_run_logger()
    opened = open_batch_task(path, department, type_code, uploader, mapping, sheet, header_row)
    if opened["already_ingested"]:
        logger.info("%s was ingested before as batch %s: nothing to do", path,
                    opened["batch_id"])
        return opened
    batch_id = opened["batch_id"]
    if opened["status"] == "failed":
        logger.error("batch %s failed: %s", batch_id, opened["error"])
        report = fail_batch_task(batch_id, opened["error"])
        _publish(report, department, type_code)
        return report
    progress = _Progress(opened)
    chunks = iter_chunks(_settings(), BatchReport(**opened), chunk_rows=chunk_rows)
    try:
        if in_flight is not None:
            rows = _seal_on_runner(batch_id, chunks, in_flight, progress)
        else:
            rows = _seal_here(batch_id, chunks, chunks_per_task, progress)
    except IngestError as exc:  # the file breaks part-way: stored rows stay, batch fails
        logger.error("batch %s failed: %s", batch_id, exc)
        report = fail_batch_task(batch_id, str(exc))
        _publish(report, department, type_code)
        return report
    except BaseException:  # a task gave up: let a re-run take the batch at once
        release_batch_task(batch_id)
        raise
    progress.finish()
    report = finish_batch_task(batch_id)
    logger.info("batch %s: %d rows: accepted %d, filtered %d, rejected %d", batch_id, rows,
                report["accepted"], report["filtered"], report["rejected"])
    _publish(report, department, type_code)
    return report


def _ingest_or_busy(path: str, department: str, type_code: str, **options: Any) -> dict[str, Any]:
    """:func:`_ingest`, or a "busy" report when another run has the batch (this one does
    nothing and says so)."""
    try:
        return _ingest(path, department, type_code, **options)
    except BatchBusyError as exc:
        get_run_logger().warning("%s: %s", path, exc)
        return {"batch_id": exc.batch_id, "file": Path(path).name, "status": "busy",
                "error": str(exc), "already_ingested": False}


# The two single-file flows are ``async def`` for one reason: Prefect 3.9 joins a *sync* flow
# run's heartbeat thread on exit, which costs up to a second per run (PREFECT.md §1), 7 % of a
# 100,000-row batch. Their bodies are ordinary blocking code, run in a thread that carries the
# flow run's context; Prefect's artifact functions are told to stay synchronous (``_sync``).
# Call them with ``asyncio.run(ingest_and_seal(...))``.
@flow(name="ingest-and-seal")
async def ingest_and_seal(path: str, department: str, type_code: str, uploader: str = "prefect",
                          chunk_rows: int = 5_000, chunks_per_task: int = 20,
                          mapping: str | None = None, sheet: str | None = None,
                          header_row: int | None = None) -> dict[str, Any]:
    """Ingest one department file (CSV, .xlsx, JSON, JSON Lines, PDF, .zip or folder of PDFs):
    validate, filter, structure, seal and store every row; publish what happened. When
    another run is ingesting the same file, this one does nothing and says so."""
    return await asyncio.to_thread(
        _ingest_or_busy, path, department, type_code, uploader=uploader, chunk_rows=chunk_rows,
        chunks_per_task=chunks_per_task, mapping=mapping, sheet=sheet, header_row=header_row)


def dask_runner() -> DaskTaskRunner:
    """The Dask cluster at ``LICREG_DASK_ADDRESS``, else a temporary local one of two
    single-threaded worker processes (started per flow run: seconds, so only for trying)."""
    address = os.environ.get("LICREG_DASK_ADDRESS")
    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1})


@flow(name="ingest-and-seal-dask", task_runner=dask_runner())
async def ingest_and_seal_dask(path: str, department: str, type_code: str,
                               uploader: str = "prefect", chunk_rows: int = 5_000,
                               in_flight: int = 8, mapping: str | None = None,
                               sheet: str | None = None,
                               header_row: int | None = None) -> dict[str, Any]:
    """As ``ingest-and-seal``, each chunk sealed and stored by a Dask worker, ``in_flight``
    chunks at most on the cluster at once (a few per Dask worker keeps them all busy). The
    workers need the code, ``LICREG_DATABASE_URL`` (PostgreSQL when they are on other
    machines), the key store and ``LICREG_KEY_PASSPHRASE``."""
    return await asyncio.to_thread(
        _ingest_or_busy, path, department, type_code, uploader=uploader, chunk_rows=chunk_rows,
        in_flight=in_flight, mapping=mapping, sheet=sheet, header_row=header_row)


@flow(name="ingest-inbox")
def ingest_inbox(inbox: str | None = None, archive: str | None = None, settle: float = 5.0,
                 chunk_rows: int = 5_000, chunks_per_task: int = 20) -> dict[str, Any]:
    """Every file waiting in inbox/<USCC>/<type code>/, taken once (several runs on several
    workers share an inbox safely), ingested, archived with its report; a table of the files."""
    settings = _settings()
    default_inbox, default_archive = default_roots(settings.home)
    root = Path(inbox) if inbox else default_inbox
    archive_root = Path(archive) if archive else default_archive

    def ingest(file: InboxFile) -> BatchReport:
        report = _ingest(str(file.path), file.department, file.type_code,
                         uploader=f"inbox:{file.department}", chunk_rows=chunk_rows,
                         chunks_per_task=chunks_per_task)
        return BatchReport(**{k: report.get(k) for k in BatchReport.__dataclass_fields__})

    engine = shared_engine(settings.database_url)
    outcomes = drain(root, archive_root, ingest, lambda: session_scope(engine), at=_now,
                     settle=settle)
    table = [{"department": o.file.department, "type": o.file.type_code, "file": o.file.name,
              "status": o.status, "batch": o.report.get("batch_id"),
              "rows": o.report.get("rows_read"), "accepted": o.report.get("accepted"),
              "rejected": o.report.get("rejected"),
              "archived": str(o.archived) if o.archived else "left in the inbox",
              "error": o.report.get("error")} for o in outcomes]
    if table:
        create_table_artifact(key="inbox", table=table,
                              description=f"{len(table)} file(s) taken from {root}")
    get_run_logger().info("inbox %s: %d file(s): %s", root, len(outcomes),
                          dict(collections.Counter(o.status for o in outcomes)))
    return {"files": len(outcomes), "outcomes": table}
