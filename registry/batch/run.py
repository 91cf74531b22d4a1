"""Run a batch: a department file, stored and ingested chunk by chunk, every row accounted for.

>>> report = ingest_file(engine, settings, Path("fixtures/batches/business-licenses.csv"),
...                      department_uscc="11330100MB1703218R", type_code="11100000MB0143028R001",
...                      uploader="clerk", at=now)          # doctest: +SKIP
>>> report.rows_read == report.accepted + report.filtered + report.rejected
True

:func:`ingest_file` is the one entry point the command line, the inbox and the flows call.
A batch is one ingestion of one file for one department and license type:

1. :func:`open_batch` stores the file content-addressed (a folder is packed into a
   deterministic zip first), checks its header and creates or resumes the batch, claimed for
   one run. A batch is one *attempt*: the file's bytes, the department, the type and the read
   options (:func:`options_digest`). The same bytes read the same way find the same batch —
   a no-op once it is done, resumed after the last committed line when it failed or was
   interrupted; read another way (a ``--mapping``, ``--sheet`` or ``--header-row`` the failed
   attempt lacked) they are a new batch beside it. A file that cannot be read is recorded as
   failed (:class:`~registry.errors.BatchFailedError`);
2. :func:`process_chunks`: this process reads each chunk (:func:`iter_chunks`), plans it and
   hands it to an executor (:mod:`registry.batch.pool`: this process, worker processes, or a
   Prefect task runner), at most ``executor.in_flight`` waiting, one transaction per chunk
   (:mod:`registry.batch.chunks`);
3. :func:`finish_batch` closes the batch after checking that every row read has exactly one
   stored outcome, or :func:`record_failure` says why it stopped. Whatever stops a run — a
   file error, a database or keystore error, an unexpected exception (logged under an id), an
   interruption — ends its batch failed with the reason and its claim released, so a re-run
   resumes at once after the last committed line; a run killed outright leaves a claim that
   the next run on the same host takes over at once (:mod:`registry.batch.leases`).
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import hashlib
import itertools
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from registry.batch.chunks import ChunkCounts, plan_chunk
from registry.batch.leases import claim_batch, runner_name
from registry.batch.pool import (
    ChunkExecutor,
    InProcess,
    LocalPool,
    ResultHandle,
    default_workers,
    kill_point,
)
from registry.clock import china_day
from registry.config import Settings
from registry.db import WalRestarts, session_scope
from registry.db.models import Batch, Department, DepartmentType, SourceRow, StoredFile
from registry.errors import (
    BatchFailedError,
    BatchNotFound,
    DepartmentNotFound,
    IngestError,
    RegistryError,
    log_unexpected,
)
from registry.i18n import LANGUAGES, _, current_language, language
from registry.ingest.archive import pack_folder
from registry.ingest.frames import RESERVED_COLUMNS, ReadOptions
from registry.ingest.mapping import map_header, read_options
from registry.ingest.reader import read_rows
from registry.ingest.rules import HeaderMap
from registry.license.types import LicenseType, license_type

__all__ = [
    "CHUNK_ROWS",
    "EARLIER_ERRORS",
    "BatchReport",
    "IngestProgress",
    "error_of",
    "finish_batch",
    "ingest_file",
    "iter_chunks",
    "open_batch",
    "options_digest",
    "process_chunks",
    "read_options_for",
    "read_report",
    "record_failure",
    "report_of",
    "retry_batch",
    "stored_path",
    "unexpected_text",
]

CHUNK_ROWS = 5_000
"""Rows per chunk: the unit of work and of commit."""


# -- the batch record: stored upload, open, read back, finish or fail ----------------------------


@dataclass(frozen=True)
class BatchReport:
    """A batch as it stands: its file, department and type, status and counts."""

    batch_id: int
    file: str
    """The file (or folder, ending in ``/``) as the department named it."""
    sha256: str
    department: str
    """The department's USCC."""
    type_code: str
    status: str
    """running / done / failed."""
    rows_read: int
    accepted: int
    filtered: int
    rejected: int
    issued: int
    """Accepted rows that became a new license or a new version; the others were unchanged."""
    uploader: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    error: str | None = None
    """Why the file could not be read (status failed), naming the file and the place."""
    options: dict[str, Any] | None = None
    """How the stored file is read (``ReadOptions.to_dict()`` plus its stored ``suffix``)."""
    already_ingested: bool = False
    """True when these exact bytes had been ingested before: nothing new was created."""

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


ERROR_SAID = "error_said"
"""Key of a failed batch's ``source``: language → why its file could not be read."""


def error_of(batch: Batch) -> str | None:
    """Why the batch failed, in the current language when it was said in it."""
    said = (batch.source or {}).get(ERROR_SAID) or {}
    return str(said.get(current_language()) or batch.error) if batch.error else None


def report_of(batch: Batch, stored: StoredFile, department: Department, *,
              already: bool = False) -> BatchReport:
    """The :class:`BatchReport` of a batch row."""
    return BatchReport(
        batch_id=batch.id, file=stored.original_name, sha256=batch.file_sha256,
        department=department.uscc, type_code=batch.type_code, status=batch.status,
        rows_read=batch.rows_read, accepted=batch.accepted, filtered=batch.filtered,
        rejected=batch.rejected, issued=batch.issued, uploader=batch.uploader or stored.uploader,
        started_at=batch.started_at, finished_at=batch.finished_at, error=error_of(batch),
        options=dict(batch.options) if batch.options else None, already_ingested=already)


def read_report(session: Session, batch_id: int, *, already: bool = False) -> BatchReport:
    batch = session.get_one(Batch, batch_id)
    return report_of(batch, session.get_one(StoredFile, batch.file_sha256),
                     session.get_one(Department, batch.department_id), already=already)


def _sha256(path: Path) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def stored_path(settings: Settings, sha256: str, suffix: str) -> Path:
    return settings.files / sha256[:2] / f"{sha256}{suffix}"


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
            sha, size, target, suffix, _name = _store_upload(settings, packed)
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


def options_digest(options: dict[str, Any]) -> str:
    """SHA-256 of a batch's read options (canonical JSON): part of what identifies it."""
    return hashlib.sha256(json.dumps(options, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).hexdigest()


def unexpected_text(settings: Settings, exc: BaseException) -> str:
    """Log an unexpected error under a new id (:func:`registry.errors.log_unexpected`) and say
    it in one line."""
    error_id, log = log_unexpected(settings.home, exc, "ingest")
    return _("unexpected error {id} ({kind}) while ingesting; the details are in {log}. "
             "Give this id to the operator; run the same command again once it is fixed",
             id=error_id, kind=type(exc).__name__,
             log=log or _("(the error log could not be written)"))


def _insert_once(session: Session, model: type[StoredFile | Batch], **values: Any) -> None:
    """INSERT … ON CONFLICT DO NOTHING: when two runs store the same upload at once, the
    first row stays and the second run finds it (SQLite and PostgreSQL both wait for the
    first writer to commit before deciding)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing())


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

    Raises :class:`~registry.errors.IngestError` when there is nothing to store,
    :class:`~registry.errors.DepartmentNotFound` for an unknown department, an
    ``IngestError`` when the department does not issue the type, and
    :class:`~registry.errors.BatchBusyError` when another run is ingesting the same file for
    the same department and type. A file that cannot be read (undecodable, malformed,
    missing required columns, over a limit …) is stored all the same and its batch recorded
    as failed with the error: the report's ``status`` is ``failed`` and ``error`` says why.
    """
    if not path.exists():
        raise IngestError(_("no such file"), file=str(path))
    dept = session.scalar(select(Department).where(Department.uscc == department_uscc))
    if dept is None:
        raise DepartmentNotFound(_("{file}: unknown department {uscc}", file=path,
                                   uscc=department_uscc))
    if session.get(DepartmentType, (dept.id, type_code)) is None:
        raise IngestError(_("{department} ({uscc}) does not issue license type {type_code}",
                            department=dept.name, uscc=dept.uscc, type_code=type_code),
                          file=str(path))
    lt = license_type(session, type_code)
    options = options or ReadOptions()

    sha, size, target, suffix, name = _store_upload(settings, path)
    if session.get(StoredFile, sha) is None:
        _insert_once(session, StoredFile, sha256=sha, size=size, original_name=name,
                     uploader=uploader, stored_at=at)
    read_as = {**options.to_dict(), "type_code": type_code, "suffix": suffix}
    digest = options_digest(read_as)
    key = (Batch.file_sha256 == sha, Batch.department_id == dept.id,
           Batch.type_code == type_code, Batch.options_sha256 == digest)
    batch = session.scalar(select(Batch).where(*key))
    if batch is None:
        _insert_once(session, Batch, file_sha256=sha, department_id=dept.id,
                     type_code=type_code, status="running", started_at=at, rows_read=0,
                     accepted=0, filtered=0, rejected=0, issued=0, uploader=uploader,
                     options=read_as, options_sha256=digest)
        batch = session.scalars(select(Batch).where(*key)).one()
    stored = session.get_one(StoredFile, sha)
    if batch.status == "done":
        return report_of(batch, stored, dept, already=True)
    claim_batch(session, batch.id, runner or runner_name())
    session.refresh(batch)
    # A failed attempt run again says what stopped it before (batch show lists it).
    earlier = [*(batch.source or {}).get(EARLIER_ERRORS, ()),
               *([batch.error] if batch.status == "failed" and batch.error else [])]
    # A resumed batch is read as its first run read it (same sheet, header row, mapping).
    stored_options = ReadOptions.from_dict(batch.options, limits=options.limits,
                                           license_type=lt)
    # Check the header before any row is taken: a file without a required column is a
    # file-level error, not a thousand identical row rejections.
    def check() -> tuple[pd.DataFrame | None, list[str], HeaderMap]:
        first = next(read_rows(target, chunk_rows=1, options=stored_options), None)
        columns = [c for c in (first.columns if first is not None else [])
                   if c not in RESERVED_COLUMNS]
        hmap = map_header(target, columns, lt, stored_options, file=name)
        return first, columns, hmap

    try:
        first, columns, hmap = check()
    except Exception as exc:
        if not isinstance(exc, IngestError):
            return _fail_open(batch, stored, dept, unexpected_text(settings, exc), earlier)
        # Said once per language (reading a header again costs little): the batch is shown
        # later to readers of either; the stored error column keeps the English.
        said = {current_language(): _renamed(exc, target, name)}
        for lang in LANGUAGES:
            with language(lang):
                try:
                    check()
                except IngestError as again:
                    said[lang] = _renamed(again, target, name)
        return _fail_open(batch, stored, dept, said.get("en", said[current_language()]),
                          earlier, said)
    batch.status, batch.error = "running", None
    batch.source = {**(first.attrs.get("source", {}) if first is not None else {}),
                    "columns": columns, "unknown": list(hmap.unknown),
                    "ignored": list(hmap.ignored), "mapped": dict(hmap.mapping),
                    **({EARLIER_ERRORS: earlier} if earlier else {})}
    return report_of(batch, stored, dept)


EARLIER_ERRORS = "earlier_errors"
"""Key of a batch's ``source``: why its earlier runs failed, oldest first."""


def _fail_open(batch: Batch, stored: StoredFile, dept: Department, error: str,
               earlier: list[str], said: dict[str, str] | None = None) -> BatchReport:
    """The batch, failed before any row was taken."""
    batch.status, batch.error = "failed", error
    batch.source = {**(batch.source or {}), ERROR_SAID: said or {}, EARLIER_ERRORS: earlier}
    batch.leased_by = batch.lease_until = None
    return report_of(batch, stored, dept)


def iter_chunks(
    settings: Settings, report: BatchReport, license_type: LicenseType, *, chunk_rows: int,
    options: ReadOptions | None = None,
) -> Iterator[pd.DataFrame]:
    """The stored file's rows, chunk by chunk, read as the batch's options say (``options``
    only adds limits). Errors name the file as uploaded, not its stored copy."""
    stored = report.options or {}
    suffix = stored.get("suffix") or Path(report.file).suffix.lower()
    read = ReadOptions.from_dict(stored, limits=(options or ReadOptions()).limits,
                                 license_type=license_type)
    target = stored_path(settings, report.sha256, suffix)
    try:
        yield from read_rows(target, chunk_rows=chunk_rows, options=read)
    except IngestError as exc:
        raise IngestError(_renamed(exc, target, report.file)) from exc


def finish_batch(session: Session, batch_id: int, *, at: dt.datetime,
                 elapsed: float = 0.0) -> BatchReport:
    """Close the batch after checking that every row read has exactly one stored outcome."""
    batch = session.get_one(Batch, batch_id)
    stored = session.scalar(select(func.count()).select_from(SourceRow).where(
        SourceRow.batch_id == batch_id)) or 0
    outcomes = batch.accepted + batch.filtered + batch.rejected
    if stored != batch.rows_read or batch.rows_read != outcomes:
        raise IngestError(_("batch {batch_id}: {rows} rows read but {stored} stored",
                            batch_id=batch_id, rows=batch.rows_read, stored=stored))
    if batch.status != "done":
        batch.status, batch.finished_at = "done", at
    batch.elapsed_seconds = (batch.elapsed_seconds or 0.0) + elapsed
    batch.leased_by = batch.lease_until = None
    return read_report(session, batch_id)


def record_failure(session: Session, batch_id: int, error: str, *,
                   elapsed: float = 0.0) -> BatchReport:
    """Mark a batch failed with the error that stopped it (its stored rows stay)."""
    batch = session.get_one(Batch, batch_id)
    batch.status, batch.error = "failed", error
    batch.elapsed_seconds = (batch.elapsed_seconds or 0.0) + elapsed
    batch.leased_by = batch.lease_until = None
    return read_report(session, batch_id)


# -- running it: chunks through an executor -------------------------------------------------------


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
            kill_point("reading")
            with session_scope(engine) as session:
                job = plan_chunk(session, settings, batch_id, chunk, today=today, at=at,
                                 seen_in_run=seen_in_run)
            if job is not None:
                pending.append(executor.submit(job))
                kill_point("sealing")
            while len(pending) > executor.in_flight or (pending and pending[0].done()):
                total = total.plus(pending.popleft().result())
                wal.chunk_committed()
                kill_point("committing")
        while pending:
            total = total.plus(pending.popleft().result())
            wal.chunk_committed()
            kill_point("committing")
    finally:  # stopped early: nothing of this run may still be storing when we return
        for handle in pending:
            handle.cancel()
        for handle in pending:
            with contextlib.suppress(Exception):  # the error that stopped the run is raised
                handle.result()
    return total


def read_options_for(engine: Engine, type_code: str, *, mapping_file: Path | None = None,
                     sheet: str | None = None, header_row: int | None = None) -> ReadOptions:
    """:func:`~registry.ingest.mapping.read_options` for the registered type ``type_code``
    (LicenseTypeNotFound naming the types there are)."""
    with session_scope(engine) as session:
        lt = license_type(session, type_code)
    return read_options(lt, mapping_file=mapping_file, sheet=sheet, header_row=header_row)


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
        lt = license_type(session, type_code)
    if report.already_ingested:
        return report
    if report.status == "failed":
        raise BatchFailedError(report.error or _("the file cannot be read"),
                               batch_id=report.batch_id)
    chunks = _Guarded(iter_chunks(settings, report, lt, chunk_rows=chunk_rows, options=options),
                      report, progress)
    try:
        process_chunks(engine, settings, report.batch_id, chunks, executor=executor,
                       workers=workers, today=today, at=at)
        if chunks.error is not None:
            raise chunks.error
        with session_scope(engine) as session:
            return finish_batch(session, report.batch_id, at=at,
                                elapsed=time.perf_counter() - started)
    except BaseException as exc:  # every way out ends the batch failed, its claim released
        _fail_run(engine, settings, report.batch_id, exc, time.perf_counter() - started)
        raise


def _fail_run(engine: Engine, settings: Settings, batch_id: int, exc: BaseException,
              elapsed: float) -> None:
    """Record why a run stopped and raise what its caller reads: the file's own error as
    :class:`~registry.errors.BatchFailedError`, a known error as itself, an interruption as
    itself, anything else as a BatchFailedError naming the id it is logged under."""
    if isinstance(exc, RegistryError):
        error = str(exc)
    elif isinstance(exc, Exception):
        error = unexpected_text(settings, exc)
    else:  # Ctrl-C, SystemExit
        error = _("interrupted ({kind}); run the same command again to resume",
                  kind=type(exc).__name__)
    # A database gone too: the claim lapses or is taken over (registry.batch.leases).
    with contextlib.suppress(Exception), session_scope(engine) as session:
        record_failure(session, batch_id, error, elapsed=elapsed)
    if isinstance(exc, IngestError) and not isinstance(exc, BatchFailedError):
        raise BatchFailedError(error, batch_id=batch_id) from exc
    if isinstance(exc, Exception) and not isinstance(exc, RegistryError):
        raise BatchFailedError(error, batch_id=batch_id) from exc


def retry_batch(
    engine: Engine,
    settings: Settings,
    batch_id: int,
    *,
    at: dt.datetime,
    file: Path | None = None,
    mapping_file: Path | None = None,
    sheet: str | None = None,
    header_row: int | None = None,
    uploader: str | None = None,
    **run: Any,
) -> BatchReport:
    """Run batch ``batch_id`` again (:func:`ingest_file`): its stored file, or ``file`` (the
    file fixed), for its department and type, read with its options but for those given.

    The same bytes read the same way resume the batch itself; another file or other options
    make a new batch beside it (``batch show`` lists both). A done batch is not run again
    (:class:`~registry.errors.IngestError`)."""
    with session_scope(engine) as session:
        batch = session.get(Batch, batch_id)
        if batch is None:
            raise BatchNotFound(_("no batch with id {batch_id}", batch_id=batch_id))
        old = read_report(session, batch_id)
        lt = license_type(session, batch.type_code)
    if old.status == "done":
        raise IngestError(_("batch {batch_id} is done: there is nothing to retry (a changed "
                            "file is ingested as a new batch)", batch_id=batch_id),
                          file=old.file)
    was = ReadOptions.from_dict(old.options)
    given = read_options(lt, mapping_file=mapping_file, sheet=sheet, header_row=header_row)
    options = ReadOptions(
        sheet=sheet if sheet is not None else (given.sheet if mapping_file else was.sheet),
        header_row=given.header_row if header_row or mapping_file else was.header_row,
        mapping=given.mapping if mapping_file else was.mapping,
        ignore=given.ignore if mapping_file else was.ignore, license_type=lt)
    settings.files.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.files) as tmp:
        if file is None:  # the stored copy, under the name the department gave it
            suffix = (old.options or {}).get("suffix") or Path(old.file).suffix.lower()
            file = Path(tmp) / Path(old.file.rstrip("/")).name
            file = file.with_suffix(suffix) if old.file.endswith("/") else file
            file.symlink_to(stored_path(settings, old.sha256, suffix))
        return ingest_file(engine, settings, file, department_uscc=old.department,
                           type_code=old.type_code, uploader=uploader or old.uploader or "",
                           at=at, options=options, **run)
