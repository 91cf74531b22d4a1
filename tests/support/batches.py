"""Batch steps for tests that stop a run part-way (a crash after one chunk, say)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy.orm import Session

from registry.batch.chunks import plan_chunk, run_job, store_chunk
from registry.config import Settings
from registry.license.issue import ChunkResult


def process_chunk(session: Session, settings: Settings, batch_id: int, chunk: pd.DataFrame, *,
                  today: dt.date, at: dt.datetime) -> ChunkResult:
    """Judge, seal and store one chunk of a batch in ``session``; the caller commits."""
    job = plan_chunk(session, settings, batch_id, chunk, today=today, at=at)
    if job is None:
        return ChunkResult(0, 0, 0, 0, ())
    return store_chunk(session, job, run_job(job))
