"""registry.db.bulk_insert stores exactly what a Core/ORM insert stores, on both engines.

Each test writes the same values twice, once through the ORM and once through the bulk
helper, and compares the rows as the database holds them (JSON and datetimes read back as the
database's own text, so a different encoding, time zone or fraction would show).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import JSON, Engine, Table, Text, cast, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.db import bulk_insert, json_text, session_scope
from registry.db.models import (
    Batch,
    Department,
    License,
    Seal,
    StoredFile,
    Template,
    UTCDateTime,
)
from registry.license.canonical import canonical_bytes
from registry.license.issue import LICENSE_COLUMNS
from registry.tlog.leaves import format_time, leaf_data, parse_leaf
from registry.tlog.models import LogLeaf
from tests.conftest import NOW

BIZ = "11100000MB0143028R001"
BEIJING = dt.timezone(dt.timedelta(hours=8))
OPTIONS = {"encoding": "gbk", "mapping": {"企业名称": "CZZT", "备注": None},
           "sheets": ["第一页", "附表"], "header_row": 2, "strict": True,
           "note": 'tab\t, newline\n, backslash \\ and "quotes" survive a COPY'}


def stored(session: Session, table: Table, **where: Any) -> dict[str, Any]:
    """One row as the database stores it: JSON and datetimes as the database's own text."""
    columns = [cast(c, Text).label(c.name) if isinstance(c.type, JSON | UTCDateTime) else c
               for c in table.c]
    query = select(*columns).where(*(table.c[k] == v for k, v in where.items()))
    return dict(session.execute(query).mappings().one())


def batch_values(sha256: str, department_id: int) -> dict[str, Any]:
    return {"file_sha256": sha256, "department_id": department_id, "type_code": BIZ,
            "status": "running", "rows_read": 7, "accepted": 5, "filtered": 1, "rejected": 1,
            "issued": 5, "error": None, "uploader": "张三",
            # a non-UTC zone with a fraction: stored as its UTC instant, microseconds kept
            "started_at": NOW.astimezone(BEIJING) + dt.timedelta(microseconds=123456),
            "finished_at": None, "options": OPTIONS, "source": None, "elapsed_seconds": 1.25}


@pytest.fixture
def department(engine: Engine) -> int:
    with session_scope(engine) as session:
        dept = Department(name="示范市市场监督管理局", uscc="11330100MB1703218R",
                          division_code="330100")
        session.add(dept)
        session.add_all(StoredFile(sha256=c * 64, size=1, original_name="批次.csv",
                                   uploader="clerk", stored_at=NOW) for c in "ab")
        session.flush()
        return dept.id


def test_datetimes_json_and_nulls_are_stored_as_the_orm_stores_them(
        engine: Engine, department: int) -> None:
    with session_scope(engine) as session:
        session.add(Batch(**batch_values("a" * 64, department)))
        values = batch_values("b" * 64, department)
        for name in ("options", "source"):  # JSON columns take their text; the ORM stores
            values[name] = json_text(values[name])  # None as JSON null, and so does this
        assert bulk_insert(session.connection(), Batch.__table__, list(values),
                           [tuple(values.values())]) == 1
    with session_scope(engine) as session:
        by_orm = stored(session, Batch.__table__, file_sha256="a" * 64)
        by_bulk = stored(session, Batch.__table__, file_sha256="b" * 64)
        read_back = session.scalars(select(Batch).where(Batch.file_sha256 == "b" * 64)).one()
    different = {k for k in by_orm if by_orm[k] != by_bulk[k]}
    assert different == {"id", "file_sha256"}
    assert by_bulk["finished_at"] is None and by_bulk["error"] is None
    assert by_bulk["source"] == "null"
    assert "第一页" in by_bulk["options"]  # UTF-8 as is, not \u escapes
    assert json.loads(by_bulk["options"]) == OPTIONS
    assert read_back.started_at == NOW + dt.timedelta(microseconds=123456)
    assert read_back.started_at.utcoffset() == dt.timedelta(0)
    if engine.dialect.name == "sqlite":  # SQLAlchemy's own SQLite text form, in UTC
        assert by_bulk["started_at"] == "2026-11-27 08:00:00.123456"


def test_bytes_and_null_are_stored_as_the_orm_stores_them(engine: Engine) -> None:
    data = leaf_data(identifier="1.2.156.3005.2.X", operate_type="01", status="VALID",
                     data_hash=hashlib.sha256(b"record").digest(), at=NOW)
    with session_scope(engine) as session:
        session.add(LogLeaf(identifier="orm", data=data, leaf_hash=b"\x00\xff" * 16, seq=None))
        bulk_insert(session.connection(), LogLeaf.__table__, ("identifier", "data", "leaf_hash"),
                    [("bulk", data, b"\x00\xff" * 16)])
    with session_scope(engine) as session:
        by_orm = stored(session, LogLeaf.__table__, identifier="orm")
        by_bulk = stored(session, LogLeaf.__table__, identifier="bulk")
    assert {k for k in by_orm if by_orm[k] != by_bulk[k]} == {"id", "identifier"}
    assert by_bulk["seq"] is None
    assert bytes(by_bulk["data"]) == data and bytes(by_bulk["leaf_hash"]) == b"\x00\xff" * 16


def test_a_license_row_is_stored_as_the_orm_stores_it(world: Engine) -> None:
    with session_scope(world) as session:
        seal = session.scalars(select(Seal)).first()
        assert seal is not None
        template = session.scalars(select(Template).where(Template.seal_id == seal.id)).first()
        assert template is not None
        record = canonical_bytes({"CZZT": "示范市第1商贸有限公司", "ZZBH": "330100000000001"})

        def values(identifier: str) -> dict[str, Any]:
            return {"identifier": identifier, "type_code": template.type_code,
                    "department_id": seal.department_id, "number": "330100000000001",
                    "holder_code": "91330100MA0000011X", "version": "001",
                    "predecessor": None, "status": "VALID", "valid_to": "长期",
                    "record": record, "data_hash": hashlib.sha256(record).digest(),
                    "seal_id": seal.id, "template_id": template.id,
                    "signed_at": NOW.replace(microsecond=0), "signature": b"\x30\x44" + b"s" * 68,
                    "batch_id": None, "created_at": NOW + dt.timedelta(microseconds=5)}

        session.add(License(**values("orm")))
        row = values("bulk")
        bulk_insert(session.connection(), License.__table__, LICENSE_COLUMNS,
                    [tuple(row[c] for c in LICENSE_COLUMNS)])
    with session_scope(world) as session:
        by_orm = stored(session, License.__table__, identifier="orm")
        by_bulk = stored(session, License.__table__, identifier="bulk")
    assert {k for k in by_orm if by_orm[k] != by_bulk[k]} == {"id", "identifier"}
    assert by_bulk["predecessor"] is None and bytes(by_bulk["record"]) == record


def abandoned_chunk(engine: Engine) -> None:
    with session_scope(engine) as session:
        bulk_insert(session.connection(), LogLeaf.__table__, ("identifier", "data", "leaf_hash"),
                    [(f"leaf {i}", b"{}", b"h") for i in range(3)])
        raise RuntimeError("abandon the chunk")


def test_rows_roll_back_with_the_callers_transaction(engine: Engine) -> None:
    with pytest.raises(RuntimeError, match="abandon"):
        abandoned_chunk(engine)
    with session_scope(engine) as session:
        assert session.scalars(select(LogLeaf)).all() == []


def test_unknown_and_defaulted_columns_are_refused_naming_them(engine: Engine,
                                                               department: int) -> None:
    with session_scope(engine) as session:
        conn = session.connection()
        with pytest.raises(ValueError, match=r"tlog_leaves: no column\(s\) hash"):
            bulk_insert(conn, LogLeaf.__table__, ("identifier", "hash"), [("x", b"")])
        values = batch_values("a" * 64, department)
        del values["rows_read"]  # Core would write its default 0; the driver would write NULL
        with pytest.raises(ValueError, match="batches: give rows_read explicitly"):
            bulk_insert(conn, Batch.__table__, list(values), [tuple(values.values())])
        assert bulk_insert(conn, LogLeaf.__table__, ("identifier",), []) == 0


def test_a_refused_row_is_an_integrity_error_that_quotes_none_of_its_values(
        engine: Engine, department: int) -> None:
    """Holders' data never reaches an error message or its chained causes (PostgreSQL's COPY
    would quote the row; SQLite's executemany hides the parameters)."""
    values = {**batch_values("a" * 64, department), "options": json_text(OPTIONS),
              "options_sha256": "b" * 64, "source": json_text(None)}  # one attempt, twice
    row = tuple(values.values())
    with pytest.raises(IntegrityError) as caught, session_scope(engine) as session:
        bulk_insert(session.connection(), Batch.__table__, list(values), [row, row])
    chain, exc = [], caught.value
    while exc is not None:
        chain.append(str(exc))
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if engine.dialect.name == "postgresql":  # a COPY: no parameters, the error said bare
        assert "UniqueViolation SQLSTATE 23505 table batches constraint" in chain[0]
    else:
        assert "SQL parameters hidden" in chain[0]
    assert not any(secret in text for text in chain for secret in ("张三", "a" * 64, "gbk"))


@pytest.mark.parametrize("identifier", [
    "1.2.156.3005.2.11100000MB0143028R001.11330100MB1703218R.E51B6303F00830686144.001.C",
    'quote " inside', "back\\slash", "space inside", "中文标识", "tab\there", ""])
def test_leaf_data_is_rfc_8785_json_whatever_the_identifier(identifier: str) -> None:
    digest = hashlib.sha256(identifier.encode()).digest()
    for at in (NOW, NOW + dt.timedelta(microseconds=7)):
        data = leaf_data(identifier=identifier, operate_type="09", status="SUPERSEDED",
                         data_hash=digest, at=at)
        assert data == canonical_bytes({"dataHash": digest.hex(), "identifier": identifier,
                                        "operateType": "09", "status": "SUPERSEDED",
                                        "time": format_time(at)})
        assert parse_leaf(data).identifier == identifier


def test_json_text_is_the_engines_json_encoding() -> None:
    value = {"reasons": ({"code": "BAD_DATE", "element": "ZZBFRQ", "message": "不是日期"},)}
    assert json_text(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert json_text(value) == '{"reasons":[{"code":"BAD_DATE","element":"ZZBFRQ",' \
                               '"message":"不是日期"}]}'
