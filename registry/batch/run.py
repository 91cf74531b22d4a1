"""Run a batch: a department file, stored and ingested chunk by chunk, every row accounted for.

>>> report = ingest_file(engine, settings, Path("fixtures/batches/business-licenses.csv"),
...                      department_uscc="11330100MB1703218R", type_code="11100000MB0143028R001",
...                      uploader="clerk", at=now)          # doctest: +SKIP
>>> report.rows_read == report.accepted + report.filtered + report.rejected
True

:func:`ingest_file` is the one entry point the command line, the inbox and the flows call:

1. open the batch (:func:`registry.batch.records.open_batch`): a file done before is a no-op,
   one that cannot be read is recorded as failed (:class:`~registry.errors.BatchFailedError`);
2. :func:`process_chunks`: this process reads and plans each chunk and hands it to an
   executor (:mod:`registry.batch.pool`: this process, worker processes, or a Prefect task
   runner), at most ``executor.in_flight`` waiting, one transaction per chunk;
3. finish the batch, or record why it stopped; an interrupted run releases its claim so a
   re-run resumes at once after the last committed line.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from registry.batch.chunks import ChunkCounts, plan_chunk
from registry.batch.leases import release_batch
from registry.batch.pool import ChunkExecutor, InProcess, LocalPool, ResultHandle, default_workers
from registry.batch.records import (
    BatchReport,
    finish_batch,
    iter_chunks,
    open_batch,
    record_failure,
)
from registry.clock import china_day
from registry.config import Settings
from registry.db import WalRestarts, session_scope
from registry.errors import BatchFailedError, IngestError
from registry.ingest.frames import ReadOptions

__all__ = ["CHUNK_ROWS", "IngestProgress", "ingest_file", "process_chunks"]

CHUNK_ROWS = 5_000
"""Rows per chunk: the unit of work and of commit."""


@dataclass(frozen=True)
class IngestProgress:
    """How far an ingestion is, for a progress bar: reported after each chunk is read."""

    batch_id: int
    file: str
    """The file as the department named it."""
    rows_read: int
    """Rows read so far."""
    done: int
    """Progress of the reader in its own unit (bytes, sheet rows or archive members)."""
    total: int
    """The same unit's total (0 when unknown)."""


class _Guarded:
    """Chunks from the reader; a file-level error stops the iteration and is kept, so the
    chunks already read are still stored before the batch is marked failed."""

    def __init__(self, chunks: Iterable[pd.DataFrame], report: BatchReport,
                 progress: Callable[[IngestProgress], None] | None) -> None:
        self.chunks = chunks
        self.report = report
        self.progress = progress
        self.error: IngestError | None = None
        self.rows = 0
        self.done = self.total = 0

    def tell(self) -> None:
        if self.progress is not None:
            self.progress(IngestProgress(self.report.batch_id, self.report.file, self.rows,
                                         self.done, self.total))

    def __iter__(self) -> Iterator[pd.DataFrame]:
        try:
            for chunk in self.chunks:
                self.rows += len(chunk)
                self.done, self.total = chunk.attrs.get("progress", (0, 0))
                self.tell()
                yield chunk
        except IngestError as exc:
            self.error = exc


def process_chunks(
    engine: Engine,
    settings: Settings,
    batch_id: int,
    chunks: Iterable[pd.DataFrame],
    *,
    executor: ChunkExecutor | None = None,
    workers: int | None = None,
    today: dt.date,
    at: dt.datetime,
) -> ChunkCounts:
    """Plan each chunk of one batch here and seal it with ``executor``; returns when every
    chunk is stored, each in its own transaction.

    Without an executor, a file of one chunk is sealed in this process and a longer one by
    ``workers`` local worker processes (:class:`~registry.batch.pool.LocalPool`). A failed
    chunk stops the run: chunks already committed stay committed and a re-run resumes with
    the rest.
    """
    chunks = iter(chunks)
    lookahead = list(itertools.islice(chunks, 2))
    if executor is None:
        workers = default_workers() if workers is None else workers
        executor = (InProcess(engine) if len(lookahead) < 2 or workers < 2
                    else LocalPool(workers))
    pending: collections.deque[ResultHandle] = collections.deque()
    seen_in_run: set[str] = set()  # chunks planned before are stored or on their way
    wal = WalRestarts(engine)  # our reads and the workers' commits starve SQLite's own restarts
    total = ChunkCounts(0, 0, 0)
    try:
        for chunk in itertools.chain(lookahead, chunks):
            with session_scope(engine) as session:
                job = plan_chunk(session, settings, batch_id, chunk, today=today, at=at,
                                 seen_in_run=seen_in_run)
            if job is not None:
                pending.append(executor.submit(job))
            while len(pending) > executor.in_flight or (pending and pending[0].done()):
                total = total.plus(pending.popleft().result())
                wal.chunk_committed()
        while pending:
            total = total.plus(pending.popleft().result())
            wal.chunk_committed()
    finally:  # stopped early: nothing of this run may still be storing when we return
        for handle in pending:
            handle.cancel()
        for handle in pending:
            with contextlib.suppress(Exception):  # the error that stopped the run is raised
                handle.result()
    return total


def ingest_file(
    engine: Engine,
    settings: Settings,
    path: Path,
    *,
    department_uscc: str,
    type_code: str,
    uploader: str,
    at: dt.datetime,
    today: dt.date | None = None,
    chunk_rows: int = CHUNK_ROWS,
    workers: int | None = None,
    executor: ChunkExecutor | None = None,
    options: ReadOptions | None = None,
    progress: Callable[[IngestProgress], None] | None = None,
    runner: str | None = None,
) -> BatchReport:
    """Open, process and finish one batch, one transaction per chunk.

    ``options`` says how to read the file (sheet, header row, mapping, limits); ``progress``
    is called after each chunk is read; ``executor`` (or ``workers``) says where chunks are
    sealed (:func:`process_chunks`); ``runner`` names this run in the batch's lease. A file
    that cannot be read raises :class:`~registry.errors.BatchFailedError` once the batch is
    recorded as failed (rows stored before a mid-file error stay stored; a re-run resumes
    after them).
    """
    today = today or china_day(at)
    started = time.perf_counter()
    with session_scope(engine) as session:
        report = open_batch(session, settings, path, department_uscc=department_uscc,
                            type_code=type_code, uploader=uploader, at=at, options=options,
                            runner=runner)
    if report.already_ingested:
        return report
    if report.status == "failed":
        raise BatchFailedError(report.error or "the file cannot be read",
                               batch_id=report.batch_id)
    chunks = _Guarded(iter_chunks(settings, report, chunk_rows=chunk_rows, options=options),
                      report, progress)
    try:
        process_chunks(engine, settings, report.batch_id, chunks, executor=executor,
                       workers=workers, today=today, at=at)
    except BaseException:  # interrupted (Ctrl-C included): a re-run may resume at once
        with session_scope(engine) as session:
            release_batch(session, report.batch_id)
        raise
    elapsed = time.perf_counter() - started
    if chunks.error is not None:
        with session_scope(engine) as session:
            failed = record_failure(session, report.batch_id, str(chunks.error),
                                    elapsed=elapsed)
        raise BatchFailedError(failed.error or "", batch_id=report.batch_id)
    with session_scope(engine) as session:
        return finish_batch(session, report.batch_id, at=at, elapsed=elapsed)
