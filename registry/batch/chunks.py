"""One chunk of a batch: planned against the database, sealed anywhere, stored in one
transaction.

A chunk is the unit of work and of commit (5,000 rows). The process that reads the file
plans each chunk (:func:`plan_chunk`: what the database already knows about its rows); the
:class:`ChunkJob` it makes needs no database to be judged and sealed, so it can run in this
process, a worker process or on a Dask worker; :func:`seal_and_store` then stores it in its
own transaction::

    job = plan_chunk(session, settings, batch_id, chunk, today=today, at=now)
    rows, accepted = seal_and_store(job)        # anywhere the job is sent
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import gc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import pandas as pd
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from registry.batch.leases import renew_batch
from registry.config import Settings
from registry.db import bulk_insert, session_scope, shared_engine, table_of
from registry.db.models import Batch, BatchReasonCount, Department, SourceRow
from registry.errors import BatchNotFound
from registry.i18n import _
from registry.ingest.frames import LINE, RESERVED_COLUMNS, ReadOptions
from registry.ingest.known_codes import load_known_codes
from registry.ingest.normalize import normalize_codes, text_cells
from registry.ingest.rules import evaluate, header_map, judged
from registry.license.issue import (
    ChunkResult,
    IssueTarget,
    PreparedChunk,
    Registered,
    current_versions,
    issuing,
    prepare_rows,
    store_judged,
)
from registry.license.types import license_type
from registry.seal.queries import SealMaterial, sealing_context

__all__ = [
    "ChunkCounts",
    "ChunkJob",
    "count_reasons",
    "plan_chunk",
    "run_job",
    "seal_and_store",
    "store_chunk",
    "without_passphrase",
]


class ChunkCounts(NamedTuple):
    """What storing one chunk (or several) did."""

    chunks: int
    rows: int
    accepted: int

    def plus(self, other: ChunkCounts) -> ChunkCounts:
        return ChunkCounts(self.chunks + other.chunks, self.rows + other.rows,
                           self.accepted + other.accepted)


@dataclass(frozen=True)
class ChunkJob:
    """One chunk and everything needed to judge, structure and seal it without a database."""

    chunk: pd.DataFrame
    target: IssueTarget
    seal: SealMaterial
    seen: frozenset[str]
    """证照编号 of earlier rows of the same file that also appear in this chunk."""
    existing: Mapping[str, Registered]
    """Registered versions of this chunk's 证照编号 (see :func:`current_versions`)."""
    today: dt.date
    at: dt.datetime
    database_url: str
    """Where the job's chunk is stored, from whichever process runs it."""
    mapping: Mapping[str, str]
    """The batch's column mapping (department column → element code)."""
    ignore: tuple[str, ...]
    """Columns the mapping says to keep without reporting them as unknown."""
    known_codes: frozenset[str]
    """Holder codes accepted (and flagged) although they fail their check."""


def without_passphrase(job: ChunkJob) -> ChunkJob:
    """The job as it may travel to another machine: the worker adds its own passphrase."""
    return dataclasses.replace(job, seal=dataclasses.replace(job.seal, passphrase=b""))


def _chunk_numbers(chunk: pd.DataFrame, column: str | None) -> list[str]:
    """The chunk's 证照编号, normalized as the rules normalize them."""
    if column is None:
        return []
    return normalize_codes(text_cells(chunk[column]))


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
    numbers are added to it, so chunks may be judged out of order in worker processes.
    """
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise BatchNotFound(_("batch {batch_id} does not exist", batch_id=batch_id))
    renew_batch(session, batch)
    if chunk.empty:  # a header and no rows
        return None
    # Lines an interrupted run already stored (chunks may have committed out of order).
    lines = chunk[LINE]
    stored = set(session.scalars(select(SourceRow.line).where(
        SourceRow.batch_id == batch_id,
        SourceRow.line.between(int(lines.min()), int(lines.max())))))
    if stored:
        chunk = chunk[~lines.isin(stored)]
    if chunk.empty:
        return None
    lt = license_type(session, batch.type_code)
    target, seal = issuing(session, department=session.get_one(Department, batch.department_id),
                           license_type=lt, at=at, batch_id=batch_id)

    read = ReadOptions.from_dict(batch.options)
    hmap = header_map([c for c in chunk.columns if c not in RESERVED_COLUMNS], lt,
                      mapping=read.mapping, ignore=read.ignore)
    column = next((h for h, code in hmap.mapping.items() if code == "ZZBH"), None)
    numbers = sorted(set(_chunk_numbers(chunk, column)) - {""})
    seen = {n for n in numbers if seen_in_run and n in seen_in_run}
    for start in range(0, len(numbers), 900):  # rows an interrupted run already stored
        seen.update(n for n in session.scalars(select(SourceRow.number).where(
            SourceRow.batch_id == batch_id,
            SourceRow.number.in_(numbers[start:start + 900]))) if n)
    if seen_in_run is not None:
        seen_in_run.update(numbers)
    material = SealMaterial.of(seal, keystore=settings.keystore,
                               passphrase=settings.require_passphrase())
    return ChunkJob(chunk=chunk, target=target, seal=material, seen=frozenset(seen),
                    existing=current_versions(session, lt.code, numbers), today=today, at=at,
                    database_url=settings.database_url, mapping=dict(read.mapping),
                    ignore=read.ignore, known_codes=load_known_codes(settings.home))


def run_job(job: ChunkJob) -> PreparedChunk:
    """Judge, structure and seal one chunk: CPU only, safe in a worker process."""
    lt = job.target.license_type
    hmap = header_map([c for c in job.chunk.columns if c not in RESERVED_COLUMNS], lt,
                      mapping=job.mapping, ignore=job.ignore)
    evaluated = evaluate(job.chunk, lt, hmap, today=job.today, seen_numbers=set(job.seen),
                         known_codes=job.known_codes)
    return prepare_rows(judged(evaluated), job.target, sealing_context(job.seal), job.existing,
                        at=job.at)


def count_reasons(session: Session, batch_id: int, rows: Sequence[Any]) -> None:
    """Record the reason counts of one stored chunk (``rows``: its RowResults), in the
    caller's transaction. A row counts once per code even when it has that code twice."""
    counts = collections.Counter(
        code for r in rows if r.reasons for code in {x["code"] for x in r.reasons})
    if counts:
        first = min(r.line for r in rows)
        bulk_insert(session.connection(), table_of(BatchReasonCount),
                    ("batch_id", "chunk_line", "code", "rows"),
                    [(batch_id, first, code, n) for code, n in sorted(counts.items())])


def store_chunk(session: Session, job: ChunkJob, prepared: PreparedChunk) -> ChunkResult:
    """Store a prepared chunk and count it on its batch, in the caller's transaction.

    A chunk commits whole, so when its first line is stored the chunk is: a job run twice
    (a task retried after its commit, say) stores nothing the second time.
    """
    assert job.target.batch_id is not None  # a job is always a batch's
    first = prepared.rows[0].line if prepared.rows else None
    if first is not None and session.get(SourceRow, (job.target.batch_id, first)) is not None:
        return ChunkResult(0, 0, 0, 0, ())
    result = store_judged(session, prepared, job.target, lambda: sealing_context(job.seal),
                          at=job.at)
    session.execute(update(Batch).where(Batch.id == job.target.batch_id).values(
        rows_read=Batch.rows_read + len(result.rows),
        accepted=Batch.accepted + result.accepted,
        filtered=Batch.filtered + result.filtered,
        rejected=Batch.rejected + result.rejected,
        issued=Batch.issued + result.issued,
    ))
    count_reasons(session, job.target.batch_id, result.rows)
    return result


def seal_and_store(job: ChunkJob, engine: Engine | None = None) -> ChunkCounts:
    """A job's whole share of work: judge, structure, seal and store its chunk in its own
    transaction, wherever it runs (on ``engine``, default this process's engine for the
    job's database).

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
        with session_scope(engine or shared_engine(job.database_url)) as session:
            result = store_chunk(session, job, prepared)
    finally:
        if paused:
            gc.enable()
    return ChunkCounts(1, len(result.rows), result.accepted)
