"""What happened to a batch, for a clerk: list, detail, every row, and a rejects CSV.

Every row of every batch is kept (:class:`~registry.db.models.SourceRow`); this module reads them
back and says *where* each reason points in the department's own file: the line and column
of a CSV, the sheet and cell of a workbook (``Sheet1!C5``), the item of a JSON array, the
member of an archive. Reason counts are kept per stored chunk in :class:`BatchReasonCount`
(insert-only, so worker processes storing chunks at once never contend for one counter).

The rejects CSV (:func:`write_rows_csv`) holds the line, outcome, reasons and the original
cells; a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
prefixed with ``'`` so that a spreadsheet shows it as text and never runs it (CSV injection).

>>> for b in list_batches(session): print(b.batch_id, b.status, b.file)      # doctest: +SKIP
>>> with Path("rejects.csv").open("w", encoding="utf-8-sig", newline="") as out:
...     write_rows_csv(session, batch_id, out, outcome="rejected")            # doctest: +SKIP
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.batch.run import BatchReport, report_of
from registry.db.models import Batch, BatchReasonCount, Department, SourceRow, StoredFile
from registry.errors import BatchNotFound
from registry.ingest.xlsx import column_letter

__all__ = [
    "FORMULA_PREFIXES",
    "BatchDetail",
    "RowReport",
    "batch_detail",
    "batch_rows",
    "closing_report",
    "list_batches",
    "locate",
    "neutralize",
    "row_outcomes",
    "write_rows_csv",
]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""Cell starts a spreadsheet treats as a formula (OWASP CSV injection)."""


@dataclass(frozen=True)
class BatchDetail:
    """``licreg batch show``: counts, reasons by kind, the file, timing."""

    summary: BatchReport
    sha256: str
    size: int
    """Bytes stored."""
    source: dict[str, Any]
    """What the file turned out to be: format, encoding or sheet, header columns …"""
    unknown_columns: tuple[str, ...]
    """Columns that name no element: kept in each row's raw cells, reported here once."""
    reasons: dict[str, int]
    """Reason code → rows carrying it (CHANGED / UNCHANGED notes included), most first."""
    elapsed_seconds: float | None
    """Time spent ingesting, over all runs."""
    rows_per_second: float | None

    def to_dict(self) -> dict[str, Any]:
        d = {**self.summary.to_dict(), **asdict(self)}
        del d["summary"]
        d["unknown_columns"] = list(self.unknown_columns)
        return d


@dataclass(frozen=True)
class RowReport:
    """One row of a batch as the clerk needs it."""

    line: int
    """The row's LINE (line, sheet row, array position or archive member position)."""
    where: str
    """Where the row is in the department's file, in words."""
    outcome: str
    reasons: tuple[dict[str, Any], ...]
    """``{"code", "element", "message", "where"}``; ``where`` names the cell when the reason
    has an element with a column in the file."""
    identifier: str | None
    raw: dict[str, str]
    """The original cells, verbatim."""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reasons": list(self.reasons)}


def list_batches(session: Session, *, limit: int | None = None,
                 department: str | None = None) -> list[BatchReport]:
    """Batches, newest first."""
    query = (select(Batch, StoredFile, Department)
             .join(StoredFile, StoredFile.sha256 == Batch.file_sha256)
             .join(Department, Department.id == Batch.department_id)
             .order_by(Batch.id.desc()))
    if department is not None:
        query = query.where(Department.uscc == department)
    if limit is not None:
        query = query.limit(limit)
    return [report_of(b, f, d) for b, f, d in session.execute(query)]


def _load(session: Session, batch_id: int) -> tuple[Batch, StoredFile, Department]:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise BatchNotFound(f"no batch with id {batch_id}")
    return (batch, session.get_one(StoredFile, batch.file_sha256),
            session.get_one(Department, batch.department_id))


def batch_detail(session: Session, batch_id: int) -> BatchDetail:
    """Everything about one batch but its rows."""
    batch, stored, dept = _load(session, batch_id)
    counts = [(str(code), int(n)) for code, n in session.execute(
        select(BatchReasonCount.code, func.sum(BatchReasonCount.rows))
        .where(BatchReasonCount.batch_id == batch_id)
        .group_by(BatchReasonCount.code))]
    reasons = dict(sorted(counts, key=lambda kv: (-kv[1], kv[0])))
    source = dict(batch.source or {})
    elapsed = batch.elapsed_seconds
    return BatchDetail(
        summary=report_of(batch, stored, dept), sha256=stored.sha256, size=stored.size,
        source=source, unknown_columns=tuple(source.get("unknown", ())), reasons=reasons,
        elapsed_seconds=round(elapsed, 3) if elapsed is not None else None,
        rows_per_second=round(batch.rows_read / elapsed, 1) if elapsed else None)


def locate(source: dict[str, Any], file: str, line: int, column: str | None = None) -> str:
    """Where ``line`` (and ``column``, an original column name) is in the uploaded file."""
    kind = source.get("format")
    columns: list[str] = list(source.get("columns", ()))
    if kind == "xlsx":
        sheet = source.get("sheet", "")
        if column is not None and column in columns:
            letter = column_letter(int(source.get("first_column", 1)) + columns.index(column))
            return f"{file}, sheet {sheet!r} cell {letter}{line} ({column})"
        return f"{file}, sheet {sheet!r} row {line}"
    if kind == "json":
        return f"{file}, item [{line - 1}]" + (f", key {column!r}" if column else "")
    if kind == "zip":
        members = {int(m[0]): str(m[1]) for m in source.get("members", ())}
        name = members.get(line, f"member {line}")
        return f"{file}: {name}" + (f", field {column!r}" if column else "")
    if kind == "pdf":
        return file + (f", field {column!r}" if column else "")
    return f"{file}, line {line}" + (f", column {column!r}" if column else "")


def batch_rows(session: Session, batch_id: int, *,
               outcome: str | None = None) -> Iterator[RowReport]:
    """The batch's rows in line order (streamed: a million-row batch is never all in memory)."""
    batch, stored, _ = _load(session, batch_id)
    source = dict(batch.source or {})
    column_of = {code: column for column, code in source.get("mapped", {}).items()}
    if source.get("format") in ("pdf", "zip"):
        column_of = {}  # PDF rows are keyed by element code; the field is the element
    query = (select(SourceRow).where(SourceRow.batch_id == batch_id)
             .order_by(SourceRow.line).execution_options(yield_per=1000))
    if outcome:
        query = query.where(SourceRow.outcome == outcome)
    for row in session.scalars(query):
        where = locate(source, stored.original_name, row.line)
        reasons = tuple(
            {**r, "where": locate(source, stored.original_name, row.line,
                                  column_of.get(r.get("element") or ""))
             if column_of.get(r.get("element") or "") else where}
            for r in row.reasons["reasons"])
        yield RowReport(line=row.line, where=where, outcome=row.outcome, reasons=reasons,
                        identifier=row.identifier, raw=dict(row.raw))


def closing_report(session: Session, report: dict[str, Any], *,
                   rejects: int = 0) -> dict[str, Any]:
    """A batch report (``BatchReport.to_dict()``) with its reason counts and, when ``rejects``
    is given, its first ``rejects`` rejected rows (line, where, reasons): what an operator or a
    clerk is shown when a batch ends."""
    closing = {**report, "reasons": batch_detail(session, report["batch_id"]).reasons}
    if rejects:
        closing["first_rejects"] = [
            {"line": r.line, "where": r.where,
             "reasons": "; ".join(f"{x['code']}: {x['message']}" for x in r.reasons)}
            for r in itertools.islice(
                batch_rows(session, report["batch_id"], outcome="rejected"), rejects)]
    return closing


def neutralize(cell: str) -> str:
    """``cell``, made inert for spreadsheets: formula-like text gets a leading ``'``."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def write_rows_csv(session: Session, batch_id: int, out: IO[str], *,
                   outcome: str | None = None) -> int:
    """Write the batch's rows (of ``outcome`` when given) as CSV to ``out``; the row count.

    Columns: ``line``, ``where``, ``outcome``, ``reasons`` (codes), ``messages`` (each with
    the cell it names), then the file's own columns with the original cells, then ``other
    cells`` (JSON of anything beyond the header). Every cell is :func:`neutralize`\\ d.
    """
    batch, _, _ = _load(session, batch_id)
    header = [str(c) for c in (batch.source or {}).get("columns", ())]
    writer = csv.writer(out)
    writer.writerow([neutralize(c) for c in
                     ["line", "where", "outcome", "reasons", "messages", *header,
                      "other cells"]])
    n = 0
    for row in batch_rows(session, batch_id, outcome=outcome):
        codes = " ".join(r["code"] for r in row.reasons)
        messages = "; ".join(f"{r['where']}: {r['message']}" for r in row.reasons)
        other = {k: v for k, v in row.raw.items() if k not in header}
        cells = [str(row.line), row.where, row.outcome, codes, messages,
                 *(str(row.raw.get(c, "")) for c in header),
                 json.dumps(other, ensure_ascii=False) if other else ""]
        writer.writerow([neutralize(c) for c in cells])
        n += 1
    return n


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
