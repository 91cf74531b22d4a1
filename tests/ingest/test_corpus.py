"""Every fixture in fixtures/bad/ and fixtures/formats/ ingests to exactly what its Case says.

The cases, their one-line descriptions and their expected outcomes live in
fixtures/make_ingest.py; this module ingests each committed file into a fresh copy of the demo
world and checks the batch error (naming the file) or the outcome and first reason of each
line listed. The world is built once and copied per case (SQLite), so the corpus runs fast;
tests/batch/test_run.py and tests/batch/test_reports.py run the same paths on PostgreSQL too.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from registry.batch.reports import batch_detail, batch_rows, row_outcomes
from registry.batch.run import ERROR_SAID, ingest_file
from registry.city.demo import MARKET, create_demo_world, init_registry
from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.db.models import Batch
from registry.errors import BatchFailedError
from registry.ingest.frames import RESERVED_COLUMNS, ReadOptions
from registry.ingest.mapping import load_mapping
from registry.ingest.rules import header_map
from registry.license.types import catalogue
from tests.conftest import FIXTURES, NOW, PASSPHRASE, TODAY
from tests.support.ingest import CASES, read_all

BAD = [pytest.param(c, id=c.name) for c in CASES.CASES]
GOOD = [pytest.param(c, id=c.name) for c in CASES.FORMATS]


@pytest.fixture(scope="module")
def template_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo world on SQLite, built once for the module."""
    home = tmp_path_factory.mktemp("world") / "var"
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'registry.db'}",
                        passphrase=PASSPHRASE)
    engine = make_engine(settings.database_url)
    init_registry(engine)
    with session_scope(engine) as session:
        create_demo_world(session, settings, now=NOW.replace(day=1, month=10))
    engine.dispose()
    return home


@pytest.fixture
def fresh(template_home: Path, tmp_path: Path) -> Iterator[tuple[Settings, Engine]]:
    home = tmp_path / "var"
    shutil.copytree(template_home, home)
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'registry.db'}",
                        passphrase=PASSPHRASE)
    engine = make_engine(settings.database_url)
    yield settings, engine
    engine.dispose()


def ingest_case(settings: Settings, engine: Engine, case: Any, path: Path,
                ) -> tuple[int, str | None]:
    """Ingest ``path`` as the case says; (batch id, error or None)."""
    opts = dict(case.options)
    mapping_file = opts.pop("mapping_file", None)
    if mapping_file:
        m = load_mapping(FIXTURES / mapping_file, license_type=catalogue()[case.type_code])
        opts.update(mapping=m.columns, ignore=m.ignore, sheet=m.sheet,
                    header_row=m.header_row or 1)
    options = ReadOptions(license_type=catalogue()[case.type_code], **opts)
    try:
        report = ingest_file(engine, settings, path, department_uscc=MARKET.uscc,
                             type_code=case.type_code, uploader="clerk", at=NOW, today=TODAY,
                             options=options, workers=1)
    except BatchFailedError as exc:
        return exc.batch_id, str(exc)
    return report.batch_id, None


def check(case: Any, folder: Path, fresh: tuple[Settings, Engine]) -> None:
    settings, engine = fresh
    if case.before:
        _, error = ingest_case(settings, engine, case, folder / case.before)
        assert error is None
    batch_id, error = ingest_case(settings, engine, case, folder / case.name)
    with session_scope(engine) as s:
        batch = s.get_one(Batch, batch_id)
        if case.error is not None:
            assert error is not None, f"{case.name} was expected to fail"
            assert re.search(case.error, error), error
            assert case.name in error  # every error names the file
            assert batch.status == "failed" and batch.error == error
            return
        assert error is None, error
        assert batch.status == "done"
        outcomes = {r["line"]: r for r in row_outcomes(s, batch_id)}
        for line, (outcome, code) in case.rows.items():
            got = outcomes[line]
            first = got["reasons"][0]["code"] if got["reasons"] else None
            assert (got["outcome"], first) == (outcome, code), (line, got["reasons"])
        assert batch.rows_read == batch.accepted + batch.filtered + batch.rejected
        for r in batch_rows(s, batch_id):
            assert case.name in r.where  # every row names the file and where in it
            for reason in r.reasons:
                assert case.name in reason["where"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input(case: Any, fresh: tuple[Settings, Engine]) -> None:
    check(case, FIXTURES / "bad", fresh)


@pytest.mark.parametrize("case", GOOD)
def test_every_format(case: Any, fresh: tuple[Settings, Engine]) -> None:
    check(case, FIXTURES / "formats", fresh)


def test_at_least_25_kinds_of_bad_input_each_documented() -> None:
    assert len(CASES.CASES) >= 25
    names = [c.name for c in CASES.CASES]
    assert len(set(names)) == len(names)
    assert all(c.doc and (c.error or c.rows) for c in CASES.CASES)


def test_committed_fixtures_are_what_the_script_writes(tmp_path: Path) -> None:
    written = CASES.main(tmp_path)
    for path in written:
        committed = FIXTURES / path.parent.name / path.name
        assert committed.exists(), f"{committed} missing: run fixtures/make_ingest.py"
        if path.name != "encrypted.pdf":  # encryption salts are random
            assert committed.read_bytes() == path.read_bytes(), path.name
    for folder in ("bad", "formats"):
        assert sorted(p.name for p in (FIXTURES / folder).iterdir()) == sorted(
            p.name for p in written if p.parent.name == folder)


def test_title_rows_read_with_the_header_row_option(fresh: tuple[Settings, Engine]) -> None:
    settings, engine = fresh
    case = next(c for c in CASES.CASES if c.name == "title-rows.csv")
    report = ingest_file(engine, settings, FIXTURES / "bad" / case.name,
                         department_uscc=MARKET.uscc, type_code=case.type_code, uploader="clerk",
                         at=NOW, today=TODAY, options=ReadOptions(header_row=3))
    assert (report.rows_read, report.accepted) == (3, 3)
    with session_scope(engine) as s:
        assert next(r.where for r in batch_rows(s, report.batch_id)) == "title-rows.csv, line 4"


def test_unclosed_quote_keeps_the_rows_before_it(fresh: tuple[Settings, Engine]) -> None:
    settings, engine = fresh
    with pytest.raises(BatchFailedError, match="line 4: malformed CSV") as info:
        ingest_file(engine, settings, FIXTURES / "bad" / "unclosed-quote.csv",
                    department_uscc=MARKET.uscc, type_code=CASES.BIZ, uploader="clerk", at=NOW,
                    today=TODAY, chunk_rows=1, workers=1)
    with session_scope(engine) as s:
        d = batch_detail(s, info.value.batch_id)
    assert (d.summary.status, d.summary.rows_read, d.summary.accepted) == ("failed", 2, 2)
    assert "unclosed-quote.csv" in (d.summary.error or "")


SAID = {
    "own-column-names.csv": (
        r"^own-column-names\.csv: missing required column\(s\): 持证主体 \(CZZT\), 持证主体代码 "
        r"\(CZZTDM\), 法定代表人 \(KZ_FDDBR\); columns found: '证照编号', '企业名称', .*'涉密'; "
        r"name each missing column by its element title or code, or map your own column names in "
        r"a mapping file given with --mapping FILE \(schemas/mapping\.schema\.json\), e\.g\. "
        r'\{"columns": \{"法人": "KZ_FDDBR"\}\}$',
        r"^own-column-names\.csv：缺少必填列：持证主体（CZZT）、持证主体代码（CZZTDM）、法定代表人"
        r"（KZ_FDDBR）；文件中的列：“证照编号”、“企业名称”、.*“涉密”；请将缺少的列命名为信息项名称或"
        r'代码，或在映射文件中.*--mapping 文件.*例如 \{"columns": \{"法人": "KZ_FDDBR"\}\}$'),
    "title-rows.csv": (
        r"; columns found: '示范市营业执照存量数据导出'; line 3 looks like the header \(the lines "
        r'above it are titles\): give --header-row 3 \("header_row": 3 in a mapping file\)$',
        r"；文件中的列：“示范市营业执照存量数据导出”；第3行像是表头（其上各行为标题）：请加上 "
        r'--header-row 3（或在映射文件中写 "header_row": 3）$'),
    "notes.txt": (
        r"^notes\.txt: unsupported file type \.txt: the file is plain text, not a table of "
        r"licenses; save the licenses as 'Text \(Tab delimited\)', 'CSV UTF-8' or \.xlsx; "
        r"supported: \.csv, .*\.zip$",
        r"^notes\.txt：不支持的文件类型 \.txt：该文件是纯文本，不是证照表格；请将证照另存为.*；"
        r"支持："),
    "pdf-named.csv": (
        r"^pdf-named\.csv: unsupported file type \.csv: the file is a PDF document; rename it "
        r"to \.pdf and upload it again; supported: ",
        r"^pdf-named\.csv：不支持的文件类型 \.csv：该文件实际是PDF 文档；请将扩展名改为 \.pdf "
        r"后重新上传；支持："),
    "old-excel.xls": (
        r"^old-excel\.xls: unsupported file type \.xls: the file is an Excel 97-2003 \(\.xls\) "
        r"or Word \(\.doc\) file; open it in Excel and save it as \.xlsx or 'CSV UTF-8'; ",
        r"^old-excel\.xls：不支持的文件类型 \.xls：该文件实际是Excel 97-2003（\.xls）或 Word"
        r"（\.doc）文件；请用 Excel 打开并另存为 \.xlsx 或“CSV UTF-8”；支持："),
}
"""Fixture → (English, Chinese) of what its failed batch says: each says what to do next."""


@pytest.mark.parametrize("name", sorted(SAID))
def test_failures_say_what_to_do_in_both_languages(name: str,
                                                   fresh: tuple[Settings, Engine]) -> None:
    settings, engine = fresh
    case = next(c for c in CASES.CASES if c.name == name)
    batch_id, error = ingest_case(settings, engine, case, FIXTURES / "bad" / name)
    with session_scope(engine) as s:
        said = s.get_one(Batch, batch_id).source[ERROR_SAID]
    english, chinese = SAID[name]
    assert re.search(english, said["en"]), said["en"]
    assert re.search(chinese, said["zh"]), said["zh"]
    assert error is not None and said["en"] in error


def test_title_rows_hint_is_the_fix(fresh: tuple[Settings, Engine]) -> None:
    """The header row title-rows.csv's message names reads every row, all columns mapped (a
    retry of the same bytes with other options is tests/batch' business)."""
    settings, engine = fresh
    case = next(c for c in CASES.CASES if c.name == "title-rows.csv")
    _, error = ingest_case(settings, engine, case, FIXTURES / "bad" / case.name)
    hint = re.search(r"--header-row (\d+) ", error or "")
    assert hint is not None, error
    rows = read_all(FIXTURES / "bad" / case.name,
                    ReadOptions(license_type=catalogue()[CASES.BIZ], header_row=int(hint[1])))
    assert list(rows["LINE"]) == [4, 5, 6]
    assert not header_map([c for c in rows.columns if c not in RESERVED_COLUMNS],
                          catalogue()[CASES.BIZ]).missing
