"""Batches: a department file, stored and ingested chunk by chunk, every row accounted for.

>>> report = ingest_file(engine, settings, Path("fixtures/batches/business-licenses.csv"),
...                      department_uscc="11330100MB1703218R", type_code="11100000MB0143028R001",
...                      uploader="clerk", at=now)          # doctest: +SKIP
>>> report.rows_read == report.accepted + report.filtered + report.rejected
True

The steps, each usable alone (the Prefect flow runs them as separate tasks):

1. :func:`open_batch` stores the file content-addressed (re-uploading the same bytes is a no-op;
   a folder is packed into a deterministic zip first), checks the header and creates or resumes
   the batch; a file that cannot be read is recorded on the batch as failed, with its error;
2. :func:`process_chunk` evaluates, seals and stores one chunk in one transaction, skipping
   lines an earlier, interrupted run already committed;
3. :func:`finish_batch` closes the batch and checks that every row read is accounted for.
"""

from __future__ import annotations

import collections
import datetime as dt
import gc
import hashlib
import itertools
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from registry.batch.leases import (
    BatchBusyError,
    claim_batch,
    release_batch,
    renew_batch,
    runner_name,
)
from registry.batch.reports import count_reasons
from registry.config import Settings
from registry.db import WalRestarts, session_scope, shared_engine
from registry.db.models import Batch, Department, DepartmentType, SourceRow, StoredFile
from registry.errors import IngestError
from registry.ingest.archive import pack_folder
from registry.ingest.known_codes import load_known_codes
from registry.ingest.normalize import normalize_texts, text_cells
from registry.ingest.reader import RESERVED_COLUMNS, ReadOptions, read_rows
from registry.ingest.rules import evaluate, header_map
from registry.license.elements import Issuer
from registry.license.issue import (
    ChunkResult,
    IssueTarget,
    PreparedChunk,
    current_versions,
    prepare_rows,
    store_prepared,
)
from registry.license.types import load_license_types
from registry.seal.queries import active_seal_for, sealing_context
from registry.template.lifecycle import published_template

__all__ = [
    "BatchBusyError",
    "BatchFailedError",
    "BatchReport",
    "ChunkCounts",
    "IngestProgress",
    "finish_batch",
    "ingest_file",
    "iter_chunks",
    "open_batch",
    "process_chunk",
    "process_chunks",
    "read_report",
    "record_failure",
    "row_outcomes",
    "start_workers",
]

CHUNK_ROWS = 5_000


@dataclass(frozen=True)
class BatchReport:
    """What happened to a batch."""

    batch_id: int
    file: str
    """The file as the department named it."""
    sha256: str
    status: str
    """running / done / failed."""
    rows_read: int
    accepted: int
    filtered: int
    rejected: int
    issued: int
    """Accepted rows that became a new license or a new version; the others were unchanged."""
    already_ingested: bool
    """True when these exact bytes had been ingested before: nothing new was created."""
    error: str | None = None
    """Why the file could not be read (status failed), naming the file and the place."""
    options: dict[str, Any] | None = None
    """How the stored file is read (``ReadOptions.to_dict()`` plus its stored ``suffix``)."""

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _sha256(path: Path) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def stored_path(settings: Settings, sha256: str, suffix: str) -> Path:
    return settings.files / sha256[:2] / f"{sha256}{suffix}"


class BatchFailedError(IngestError):
    """A file of a batch cannot be read; the batch is recorded as failed with this error
    (rows stored before the failure stay stored)."""

    def __init__(self, message: str, *, batch_id: int) -> None:
        super().__init__(message)
        self.batch_id = batch_id

    def diagnostics(self) -> str:
        return (f"{self}\n(recorded as batch {self.batch_id}, failed; see "
                f"`licreg batch show {self.batch_id}`)")


@dataclass(frozen=True)
class IngestProgress:
    """How far an ingestion is, for a progress bar."""

    rows_read: int
    """Rows read so far."""
    done: int
    """Progress of the reader in its own unit (bytes, sheet rows or archive members)."""
    total: int
    """The same unit's total (0 when unknown)."""


def _renamed(exc: IngestError, stored: Path, name: str) -> str:
    """The error's text naming the file as the department named it, not its stored copy."""
    return str(exc).replace(str(stored), name)


def _store_upload(settings: Settings, path: Path) -> tuple[str, int, Path, str, str]:
    """Copy an upload into the content-addressed store: (sha256, size, stored path, suffix,
    original name). A folder is packed into a deterministic zip first."""
    if path.is_dir():
        settings.files.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=settings.files) as tmp:
            packed = Path(tmp) / "folder.zip"
            pack_folder(path, packed)
            sha, size, target, suffix, _ = _store_upload(settings, packed)
        return sha, size, target, suffix, f"{path.name}/"
    sha, size = _sha256(path)
    suffix = path.suffix.lower()
    target = stored_path(settings, sha, suffix)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        # A private temporary name: two runs storing the same upload at once must not share one.
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f"{sha}.", suffix=".part")
        os.close(fd)
        shutil.copyfile(path, tmp_name)
        Path(tmp_name).replace(target)
    return sha, size, target, suffix, path.name


def open_batch(
    session: Session,
    settings: Settings,
    path: Path,
    *,
    department_uscc: str,
    type_code: str,
    uploader: str,
    at: dt.datetime,
    options: ReadOptions | None = None,
    runner: str | None = None,
) -> BatchReport:
    """Store ``path`` (a file or a folder) and create (or find) its batch, claimed for
    ``runner`` (default: this process) until it is finished, failed or released.

    Raises :class:`IngestError` when there is nothing to store or no batch can be made
    (unknown department or type), :class:`~registry.batch.leases.BatchBusyError` when another
    run is ingesting the same file for the same department and type. A file that cannot be
    read (undecodable, malformed, missing required columns, over a limit …) is stored all the
    same and its batch recorded as failed with the error: the report's ``status`` is
    ``failed`` and ``error`` says why.
    """
    if not path.exists():
        raise IngestError("no such file", file=str(path))
    dept = session.scalar(select(Department).where(Department.uscc == department_uscc))
    if dept is None:
        raise IngestError(f"unknown department {department_uscc}", file=str(path))
    if session.get(DepartmentType, (dept.id, type_code)) is None:
        raise IngestError(f"{dept.name} ({dept.uscc}) does not issue license type {type_code}",
                          file=str(path))
    lt = load_license_types()[type_code]
    options = options or ReadOptions()

    sha, size, target, suffix, name = _store_upload(settings, path)
    if session.get(StoredFile, sha) is None:
        _insert_once(session, StoredFile, sha256=sha, size=size, original_name=name,
                     uploader=uploader, stored_at=at)
    key = (Batch.file_sha256 == sha, Batch.department_id == dept.id,
           Batch.type_code == type_code)
    batch = session.scalar(select(Batch).where(*key))
    if batch is None:
        _insert_once(session, Batch, file_sha256=sha, department_id=dept.id,
                     type_code=type_code, status="running", started_at=at, rows_read=0,
                     accepted=0, filtered=0, rejected=0, issued=0, uploader=uploader,
                     options={**options.to_dict(), "type_code": type_code, "suffix": suffix})
        batch = session.scalars(select(Batch).where(*key)).one()
    if batch.status == "done":
        return _report(batch, name, already=True)
    claim_batch(session, batch.id, runner or runner_name())
    session.refresh(batch)
    # A resumed batch is read as its first run read it (same sheet, header row, mapping).
    stored_options = ReadOptions.from_dict(batch.options, limits=options.limits)
    # Check the header before any row is taken: a file without a required column is a
    # file-level error, not a thousand identical row rejections.
    try:
        first = next(read_rows(target, chunk_rows=1, options=stored_options), None)
        columns = [c for c in (first.columns if first is not None else [])
                   if c not in RESERVED_COLUMNS]
        hmap = header_map(columns, lt, mapping=stored_options.mapping,
                          ignore=stored_options.ignore)
        if hmap.missing:
            raise IngestError(
                "missing required column(s): " + ", ".join(
                    f"{lt.element(c).title} ({c})" for c in hmap.missing), file=name)
    except IngestError as exc:
        batch.status, batch.error = "failed", _renamed(exc, target, name)
        batch.leased_by = batch.lease_until = None
        return _report(batch, name, already=False)
    batch.status, batch.error = "running", None
    batch.source = {**(first.attrs.get("source", {}) if first is not None else {}),
                    "columns": columns, "unknown": list(hmap.unknown),
                    "ignored": list(hmap.ignored), "mapped": dict(hmap.mapping)}
    return _report(batch, name, already=False)


def _insert_once(session: Session, model: type[StoredFile | Batch], **values: Any) -> None:
    """INSERT … ON CONFLICT DO NOTHING: when two runs store the same upload at once, the
    first row stays and the second run finds it (SQLite and PostgreSQL both wait for the
    first writer to commit before deciding)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing())


def iter_chunks(
    settings: Settings, report: BatchReport, *, chunk_rows: int = CHUNK_ROWS,
    options: ReadOptions | None = None,
) -> Iterator[pd.DataFrame]:
    """The stored file's rows, chunk by chunk, read as the batch's options say (``options``
    only adds limits). Errors name the file as uploaded, not its stored copy."""
    stored = report.options or {}
    suffix = stored.get("suffix") or Path(report.file).suffix.lower()
    read = ReadOptions.from_dict(stored, limits=(options or ReadOptions()).limits)
    target = stored_path(settings, report.sha256, suffix)
    try:
        yield from read_rows(target, chunk_rows=chunk_rows, options=read)
    except IngestError as exc:
        raise IngestError(_renamed(exc, target, report.file)) from exc


@dataclass(frozen=True)
class SealMaterial:
    """What a worker process needs to seal with a seal (picklable; keys stay encrypted)."""

    keystore: Path
    key_file: str
    passphrase: bytes
    cert_der: bytes
    seal_der: bytes


@dataclass(frozen=True)
class ChunkJob:
    """One chunk and everything needed to evaluate, structure and seal it without a database."""

    chunk: pd.DataFrame
    target: IssueTarget
    seal: SealMaterial
    seen: frozenset[str]
    """证照编号 of earlier rows of the same file that also appear in this chunk."""
    existing: dict[str, tuple[str, str, bytes]]
    """Registered versions of this chunk's 证照编号 (see :func:`current_versions`)."""
    today: dt.date
    at: dt.datetime
    database_url: str
    """Where a worker process stores the chunk."""
    mapping: dict[str, str] | None = None
    """The batch's column mapping (department column → element code)."""
    ignore: tuple[str, ...] = ()
    """Columns the mapping says to keep without reporting them as unknown."""
    known_codes: frozenset[str] = frozenset()
    """Holder codes accepted (and flagged) although they fail their check."""


def chunk_numbers(chunk: pd.DataFrame, column: str | None) -> list[str]:
    """The chunk's 证照编号, normalized as the rules normalize them."""
    if column is None:
        return []
    return [n.upper() for n in normalize_texts(text_cells(chunk[column]))]


def plan_chunk(
    session: Session,
    settings: Settings,
    batch_id: int,
    chunk: pd.DataFrame,
    *,
    today: dt.date,
    at: dt.datetime,
    seen_in_run: set[str] | None = None,
) -> ChunkJob | None:
    """Read what the chunk needs from the database; None when an earlier run stored it all.

    ``seen_in_run`` holds the 证照编号 of the chunks already planned in this run; this chunk's
    numbers are added to it, so chunks may be evaluated out of order in worker processes.
    """
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise IngestError(f"batch {batch_id} does not exist")
    renew_batch(session, batch)
    # Lines an interrupted run already stored (chunks may have committed out of order).
    lines = chunk["LINE"]
    stored = set(session.scalars(select(SourceRow.line).where(
        SourceRow.batch_id == batch_id,
        SourceRow.line.between(int(lines.min()), int(lines.max())))))
    if stored:
        chunk = chunk[~lines.isin(stored)]
    if chunk.empty:
        return None
    lt = load_license_types()[batch.type_code]
    dept = session.get_one(Department, batch.department_id)
    template = published_template(session, type_code=lt.code, department_id=dept.id)
    assert template.seal_id is not None  # published_template guarantees a bound seal
    seal = active_seal_for(session, template.seal_id, lt.code, at=at)

    read = ReadOptions.from_dict(batch.options)
    hmap = header_map([c for c in chunk.columns if c not in RESERVED_COLUMNS], lt,
                      mapping=read.mapping, ignore=read.ignore)
    column = next((h for h, code in hmap.mapping.items() if code == "ZZBH"), None)
    numbers = sorted(set(chunk_numbers(chunk, column)) - {""})
    seen = {n for n in numbers if seen_in_run and n in seen_in_run}
    for start in range(0, len(numbers), 900):  # rows an interrupted run already stored
        seen.update(n for n in session.scalars(select(SourceRow.number).where(
            SourceRow.batch_id == batch_id,
            SourceRow.number.in_(numbers[start:start + 900]))) if n)
    if seen_in_run is not None:
        seen_in_run.update(numbers)
    target = IssueTarget(license_type=lt, issuer=Issuer(dept.name, dept.uscc),
                         department_id=dept.id, template_id=template.id, seal_id=seal.id,
                         batch_id=batch_id)
    material = SealMaterial(keystore=settings.keystore, key_file=seal.key_file,
                            passphrase=settings.require_passphrase(), cert_der=seal.cert_der,
                            seal_der=seal.seal_der)
    return ChunkJob(chunk=chunk, target=target, seal=material, seen=frozenset(seen),
                    existing=current_versions(session, lt.code, numbers), today=today, at=at,
                    database_url=settings.database_url, mapping=dict(read.mapping),
                    ignore=read.ignore, known_codes=load_known_codes(settings.home))


def run_job(job: ChunkJob) -> PreparedChunk:
    """Evaluate, structure and seal one chunk: CPU only, safe in a worker process."""
    lt = job.target.license_type
    hmap = header_map([c for c in job.chunk.columns if c not in RESERVED_COLUMNS], lt,
                      mapping=job.mapping, ignore=job.ignore)
    evaluated = evaluate(job.chunk, lt, hmap, today=job.today, seen_numbers=set(job.seen),
                         known_codes=job.known_codes)
    sealing = sealing_context(job.seal, keystore=job.seal.keystore,  # type: ignore[arg-type]
                              passphrase=job.seal.passphrase)
    return prepare_rows(records_of(evaluated), job.target, sealing, job.existing, at=job.at)


def store_chunk(
    session: Session, job: ChunkJob, prepared: PreparedChunk
) -> ChunkResult:
    """Store a prepared chunk and count it on its batch, in the caller's transaction."""
    result = store_prepared(session, prepared, job.target, at=job.at)
    session.execute(update(Batch).where(Batch.id == job.target.batch_id).values(
        rows_read=Batch.rows_read + len(result.rows),
        accepted=Batch.accepted + result.accepted,
        filtered=Batch.filtered + result.filtered,
        rejected=Batch.rejected + result.rejected,
        issued=Batch.issued + result.issued,
    ))
    count_reasons(session, job.target.batch_id, result.rows)
    return result


def seal_and_store(job: ChunkJob) -> tuple[int, int]:
    """A worker's whole share of a chunk: evaluate, structure, seal and store it in its own
    transaction. Returns (rows, accepted).

    The cyclic garbage collector waits until the chunk is done: a chunk makes hundreds of
    thousands of short-lived objects, which reference counting frees, and the collector
    would otherwise walk them (and the worker's whole heap) dozens of times per chunk, for
    about a tenth of the CPU a license costs. What a chunk leaves in cycles is collected
    after it.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        prepared = run_job(job)
        with session_scope(shared_engine(job.database_url)) as session:
            result = store_chunk(session, job, prepared)
    finally:
        if paused:
            gc.enable()
    return len(result.rows), result.accepted


def process_chunk(
    session: Session,
    settings: Settings,
    batch_id: int,
    chunk: pd.DataFrame,
    *,
    today: dt.date,
    at: dt.datetime,
) -> ChunkResult:
    """Evaluate, seal and store one chunk of a batch in this process; the caller commits."""
    job = plan_chunk(session, settings, batch_id, chunk, today=today, at=at)
    if job is None:
        return ChunkResult(0, 0, 0, 0, ())
    return store_chunk(session, job, run_job(job))


def records_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as dicts; several times faster than ``DataFrame.to_dict("records")``."""
    columns = list(frame.columns)
    return [dict(zip(columns, values, strict=True))
            for values in zip(*(frame[c].tolist() for c in columns), strict=True)]


def finish_batch(session: Session, batch_id: int, *, at: dt.datetime) -> BatchReport:
    """Close the batch after checking that every row read has exactly one stored outcome."""
    batch = session.get_one(Batch, batch_id)
    stored = session.scalar(select(func.count()).select_from(SourceRow).where(
        SourceRow.batch_id == batch_id)) or 0
    outcomes = batch.accepted + batch.filtered + batch.rejected
    if stored != batch.rows_read or batch.rows_read != outcomes:
        raise IngestError(f"batch {batch_id}: {batch.rows_read} rows read but {stored} stored")
    if batch.status != "done":
        batch.status, batch.finished_at = "done", at
    batch.leased_by = batch.lease_until = None
    return read_report(session, batch_id)


def read_report(session: Session, batch_id: int, *, already: bool = False) -> BatchReport:
    batch = session.get_one(Batch, batch_id)
    name = session.get_one(StoredFile, batch.file_sha256).original_name
    return _report(batch, name, already=already)


def row_outcomes(
    session: Session, batch_id: int, *, outcome: str | None = None
) -> list[dict[str, Any]]:
    """Every row of a batch in line order: line, outcome, reasons, identifier."""
    query = select(SourceRow).where(SourceRow.batch_id == batch_id).order_by(SourceRow.line)
    if outcome:
        query = query.where(SourceRow.outcome == outcome)
    return [
        {"line": r.line, "outcome": r.outcome, "reasons": r.reasons["reasons"],
         "identifier": r.identifier}
        for r in session.scalars(query)
    ]


def _report(batch: Batch, name: str, *, already: bool) -> BatchReport:
    return BatchReport(
        batch_id=batch.id, file=name, sha256=batch.file_sha256, status=batch.status,
        rows_read=batch.rows_read, accepted=batch.accepted, filtered=batch.filtered,
        rejected=batch.rejected, issued=batch.issued, already_ingested=already, error=batch.error,
        options=dict(batch.options) if batch.options else None)


def record_failure(session: Session, batch_id: int, error: str, *,
                   elapsed: float = 0.0) -> BatchReport:
    """Mark a batch failed with the error that stopped it (its stored rows stay)."""
    batch = session.get_one(Batch, batch_id)
    batch.status, batch.error = "failed", error
    batch.elapsed_seconds = (batch.elapsed_seconds or 0.0) + elapsed
    batch.leased_by = batch.lease_until = None
    return read_report(session, batch_id)


class _Guarded:
    """Chunks from the reader; a file-level error stops the iteration and is kept, so the
    chunks already read are still stored before the batch is marked failed."""

    def __init__(self, chunks: Iterable[pd.DataFrame],
                 progress: Callable[[IngestProgress], None] | None) -> None:
        self.chunks = chunks
        self.progress = progress
        self.error: IngestError | None = None
        self.rows = 0

    def __iter__(self) -> Iterator[pd.DataFrame]:
        try:
            for chunk in self.chunks:
                self.rows += len(chunk)
                if self.progress is not None:
                    done, total = chunk.attrs.get("progress", (0, 0))
                    self.progress(IngestProgress(self.rows, done, total))
                yield chunk
        except IngestError as exc:
            self.error = exc


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
    options: ReadOptions | None = None,
    progress: Callable[[IngestProgress], None] | None = None,
) -> BatchReport:
    """Steps 1–3 in one call, one transaction per chunk.

    Chunks go through :func:`process_chunks` (in worker processes when there is more than one).
    ``options`` says how to read the file (sheet, header row, mapping, limits); ``progress``
    is called after each chunk is read. A file that cannot be read raises
    :class:`BatchFailedError` once the batch is recorded as failed (rows stored before a
    mid-file error stay stored; a re-run resumes after them).
    """
    today = today or at.date()
    started = time.perf_counter()
    with session_scope(engine) as session:
        report = open_batch(session, settings, path, department_uscc=department_uscc,
                            type_code=type_code, uploader=uploader, at=at, options=options)
    if report.already_ingested:
        return report
    if report.status == "failed":
        raise BatchFailedError(report.error or "the file cannot be read",
                               batch_id=report.batch_id)
    chunks = _Guarded(iter_chunks(settings, report, chunk_rows=chunk_rows, options=options),
                      progress)
    try:
        process_chunks(engine, settings, report.batch_id, chunks, workers=workers,
                       today=today, at=at)
    except BaseException:  # interrupted (Ctrl-C included): a re-run may resume at once
        with session_scope(engine) as session:
            release_batch(session, report.batch_id)
        raise
    elapsed = time.perf_counter() - started
    if chunks.error is not None:
        with session_scope(engine) as session:
            failed = record_failure(session, report.batch_id, str(chunks.error), elapsed=elapsed)
        raise BatchFailedError(failed.error or "", batch_id=report.batch_id)
    with session_scope(engine) as session:
        finished = finish_batch(session, report.batch_id, at=at)
        batch = session.get_one(Batch, report.batch_id)
        batch.elapsed_seconds = (batch.elapsed_seconds or 0.0) + elapsed
        return finished


@dataclass(frozen=True)
class ChunkCounts:
    """What :func:`process_chunks` did."""

    chunks: int
    rows: int
    accepted: int


def process_chunks(
    engine: Engine,
    settings: Settings,
    batch_id: int,
    chunks: Iterable[pd.DataFrame],
    *,
    workers: int | None = None,
    today: dt.date,
    at: dt.datetime,
) -> ChunkCounts:
    """Process chunks of one batch, each in its own transaction; returns when all are stored.

    With more than one chunk, this process reads and plans them while ``workers`` processes
    (default: two more than CPUs — workers waiting for the database's write lock leave their
    cores to ones that are sealing) evaluate, seal and store them. A failed chunk stops the run;
    chunks already committed stay committed and a re-run resumes with the rest. Scripts that
    call this must guard their entry point with ``if __name__ == "__main__":`` (workers start
    from a fork server, as :mod:`multiprocessing` requires).
    """
    chunks = iter(chunks)
    lookahead = list(itertools.islice(chunks, 2))
    workers = default_workers() if workers is None else workers
    counts = [0, 0, 0]
    if len(lookahead) < 2 or workers < 2:
        for chunk in itertools.chain(lookahead, chunks):
            with session_scope(engine) as session:
                result = process_chunk(session, settings, batch_id, chunk, today=today, at=at)
            counts = [counts[0] + 1, counts[1] + len(result.rows), counts[2] + result.accepted]
        return ChunkCounts(*counts)

    pool = worker_pool(workers)
    in_flight: collections.deque[Future[tuple[int, int]]] = collections.deque()
    seen_in_run: set[str] = set()  # chunks before this call are committed: plan_chunk sees them
    wal = WalRestarts(engine)  # our reads and the workers' commits starve SQLite's own restarts

    def collect() -> None:
        rows, accepted = in_flight.popleft().result()
        counts[:] = [counts[0] + 1, counts[1] + rows, counts[2] + accepted]
        wal.chunk_committed()

    try:
        for chunk in itertools.chain(lookahead, chunks):
            with session_scope(engine) as session:
                job = plan_chunk(session, settings, batch_id, chunk, today=today, at=at,
                                 seen_in_run=seen_in_run)
            if job is not None:
                in_flight.append(pool.submit(seal_and_store, job))
            while len(in_flight) > 2 * workers or (in_flight and in_flight[0].done()):
                collect()
        while in_flight:
            collect()
    finally:
        for future in in_flight:
            future.cancel()
        wait(in_flight)
    return ChunkCounts(*counts)


_POOLS: dict[int, ProcessPoolExecutor] = {}


def default_workers() -> int:
    # On SQLite, storing a chunk holds the write lock for about half of a license's wall time
    # at a million rows: on 2 cores, 4 workers ran a 1,000,000-row file at 13,200 rows/s where
    # 3 ran it at 12,600 (and 100,000 rows alike).
    return (os.cpu_count() or 1) + 2


def start_workers(workers: int | None = None) -> None:
    """Start the worker processes now (a benchmark does, so their start-up is not timed)."""
    n = default_workers() if workers is None else workers
    pool = worker_pool(n)
    wait([pool.submit(os.getpid) for _ in range(n)])


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool kept for the life of this process (workers start once, from a fork
    server that has already imported the registry)."""
    pool = _POOLS.get(workers)
    if pool is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["registry.batch.run"])
        pool = _POOLS[workers] = ProcessPoolExecutor(workers, mp_context=context)
    return pool
