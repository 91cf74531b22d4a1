"""Department files for batch tests, ingesting them, and batch steps for tests that stop a
run part-way (a crash after one chunk, say)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from registry.batch import run as batch_run
from registry.batch.chunks import plan_chunk, run_job, store_chunk
from registry.batch.run import ingest_file
from registry.city.demo import MARKET
from registry.config import Settings
from registry.db import session_scope
from registry.ingest.frames import ReadOptions
from registry.license.codes import org_code_check, uscc_check
from registry.license.issue import ChunkResult
from registry.license.types import catalogue
from tests.conftest import NOW, TODAY

BIZ = "11100000MB0143028R001"
HEADER = ("证照编号,持证主体,持证主体代码,颁证日期,有效期起始日期,有效期截止日期,涉密,"
          "类型,法定代表人,注册资本,成立日期,住所,经营范围")


def holder(n: int) -> str:
    org = f"MA{n:06d}"  # positions 9-17 must be a GB 11714-valid organization code
    body = f"91330100{org}{org_code_check(org)}"  # 17 characters: a valid USCC body
    return body + uscc_check(body)


def row(n: int, *, end: str = "长期", code: str | None = None, classified: str = "否",
        capital: str = "100万元") -> str:
    return (f"3301000000{n:05d},示范市第{n}商贸有限公司,{code or holder(n)},2024-01-05,2024/1/5,"
            f"{end},{classified},有限责任公司,张{n},{capital},2020年3月1日,示范市湖滨路{n}号,日用百货销售")


def write_csv(path: Path, *rows: str, header: str = HEADER) -> Path:
    path.write_text("\n".join((header, *rows)) + "\n", encoding="utf-8")
    return path


def ingest(engine: Engine, settings: Settings, path: Path, **kw: object):  # type: ignore[no-untyped-def]
    return ingest_file(engine, settings, path, department_uscc=MARKET.uscc, type_code=BIZ,
                       uploader="clerk", at=NOW, today=TODAY, **kw)  # type: ignore[arg-type]


def ingest_interrupted(engine: Engine, settings: Settings, path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """:func:`ingest` stopped by Ctrl-C once its batch is open (it raises KeyboardInterrupt)."""

    def interrupted(*_args: object, **_kw: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(batch_run, "process_chunks", interrupted)
        with pytest.raises(KeyboardInterrupt):
            ingest(engine, settings, path)


def ingest_typed(engine: Engine, settings: Settings, path: Path, **kw: object):  # type: ignore[no-untyped-def]
    """:func:`ingest` with the reader told the license type (a PDF or an archive needs it)."""
    kw.setdefault("options", ReadOptions(license_type=catalogue()[BIZ]))
    return ingest_file(engine, settings, path, department_uscc=MARKET.uscc, type_code=BIZ,
                       uploader="clerk", at=NOW, today=TODAY, **kw)  # type: ignore[arg-type]


def count(engine: Engine, model: type) -> int:
    with session_scope(engine) as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def process_chunk(session: Session, settings: Settings, batch_id: int, chunk: pd.DataFrame, *,
                  today: dt.date, at: dt.datetime) -> ChunkResult:
    """Judge, seal and store one chunk of a batch in ``session``; the caller commits."""
    job = plan_chunk(session, settings, batch_id, chunk, today=today, at=at)
    if job is None:
        return ChunkResult(0, 0, 0, 0, ())
    return store_chunk(session, job, run_job(job))
