"""What happened to a batch, for a clerk: list, detail, every row, and a rejects CSV.

Every row of every batch is kept (:class:`~registry.db.models.SourceRow`); this module reads them
back and says *where* each reason points in the department's own file: the line and column
of a CSV, the sheet and cell of a workbook (``Sheet1!C5``), the item of a JSON array, the
member of an archive. Reason counts are kept per stored chunk in :class:`BatchReasonCount`
(insert-only, so worker processes storing chunks at once never contend for one counter).

The rejects CSV (:func:`write_rows_csv`) holds the line, outcome, reasons and the original
cells; a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (also
after spaces or other whitespace) is prefixed with ``'`` so that a spreadsheet shows it as text
and never runs it (CSV injection).

What a person reads is said in the current language (:mod:`registry.i18n`): where a row is,
its outcome and its reasons (kept with their fields, :mod:`registry.ingest.messages`, so one
batch reads in Chinese and in English alike); machine codes (``EXPIRED``, ``accepted``) stay
as they are beside the words, in JSON and in the CSV's code columns. The CSV is meant to be
written UTF-8 with a byte-order mark (``utf-8-sig``): Excel, which most clerks open it with,
reads a CSV without one in the system's code page and shows the Chinese as mojibake.

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

from registry.batch.run import EARLIER_ERRORS, BatchReport, report_of
from registry.clock import china_text
from registry.db.models import Batch, BatchReasonCount, Department, SourceRow, StoredFile
from registry.errors import BatchNotFound
from registry.i18n import N_, _, named
from registry.ingest.messages import reason_message
from registry.ingest.rules import REASON_TITLES
from registry.ingest.xlsx import column_letter

__all__ = [
    "FORMULA_PREFIXES",
    "OUTCOME_WORDS",
    "STATUS_WORDS",
    "BatchDetail",
    "RowReport",
    "batch_detail",
    "batch_rows",
    "closing_report",
    "joined",
    "list_batches",
    "locate",
    "neutralize",
    "outcome_word",
    "reason_title",
    "row_outcomes",
    "status_word",
    "write_rows_csv",
]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""Cell starts a spreadsheet treats as a formula (OWASP CSV injection)."""

OUTCOME_WORDS = {"accepted": N_("accepted"), "filtered": N_("filtered"),
                 "rejected": N_("rejected")}
"""A row's outcome in words (translated where shown: :func:`outcome_word`)."""
STATUS_WORDS = {"running": N_("running"), "done": N_("done"), "failed": N_("failed"),
                "busy": N_("busy"), "refused": N_("refused"), "waiting": N_("waiting")}
"""A batch's (or an inbox file's) status in words (:func:`status_word`)."""


def outcome_word(outcome: str) -> str:
    """``accepted`` / ``filtered`` / ``rejected`` in the current language."""
    return named(OUTCOME_WORDS, outcome)


def status_word(status: str) -> str:
    """A batch status (running, done, failed; busy, refused for an inbox file) in words."""
    return named(STATUS_WORDS, status)


def reason_title(code: str) -> str:
    """A reason code's short name in the current language (the code itself when unknown)."""
    return named(REASON_TITLES, code)


def joined(parts: list[str]) -> str:
    """Reasons one after the other, separated as the current language separates them."""
    return _("; ").join(parts)


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
    attempts: tuple[tuple[int, str], ...] = ()
    """The other batches of the same bytes for the same department and type (read with other
    options), oldest first: (batch id, status)."""
    earlier_errors: tuple[str, ...] = ()
    """Why earlier runs of this batch failed before it was run again, oldest first."""

    def to_dict(self) -> dict[str, Any]:
        """For JSON: the fields, plus ``status_text`` and ``reason_titles`` (code → short
        name) in the reader's language beside the codes."""
        d = {**self.summary.to_dict(), **asdict(self)}
        del d["summary"]
        d["unknown_columns"] = list(self.unknown_columns)
        d["status_text"] = status_word(self.summary.status)
        d["reason_titles"] = {code: reason_title(code) for code in self.reasons}
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
    """``{"code", "element", "message", "where"}`` (``message`` and ``where`` in the current
    language); ``where`` names the cell when the reason has an element with a column in the
    file."""
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
        raise BatchNotFound(_("no batch with id {batch_id}", batch_id=batch_id))
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
    attempts = tuple((int(i), str(st)) for i, st in session.execute(
        select(Batch.id, Batch.status).where(
            Batch.file_sha256 == batch.file_sha256, Batch.department_id == batch.department_id,
            Batch.type_code == batch.type_code, Batch.id != batch.id).order_by(Batch.id)))
    return BatchDetail(
        summary=report_of(batch, stored, dept), sha256=stored.sha256, size=stored.size,
        source=source, unknown_columns=tuple(source.get("unknown", ())), reasons=reasons,
        elapsed_seconds=round(elapsed, 3) if elapsed is not None else None,
        rows_per_second=round(batch.rows_read / elapsed, 1) if elapsed else None,
        attempts=attempts, earlier_errors=tuple(source.get(EARLIER_ERRORS, ())))


def locate(source: dict[str, Any], file: str, line: int, column: str | None = None) -> str:
    """Where ``line`` (and ``column``, an original column name) is in the uploaded file."""
    kind = source.get("format")
    columns: list[str] = list(source.get("columns", ()))
    if kind == "xlsx":
        sheet = source.get("sheet", "")
        if column is not None and column in columns:
            letter = column_letter(int(source.get("first_column", 1)) + columns.index(column))
            return _("{file}, sheet {sheet!r} cell {cell} ({column})", file=file, sheet=sheet,
                     cell=f"{letter}{line}", column=column)
        return _("{file}, sheet {sheet!r} row {row}", file=file, sheet=sheet, row=line)
    if kind == "json":
        if column:
            return _("{file}, item [{index}], key {key!r}", file=file, index=line - 1,
                     key=column)
        return _("{file}, item [{index}]", file=file, index=line - 1)
    if kind == "zip":
        members = {int(m[0]): str(m[1]) for m in source.get("members", ())}
        name = members.get(line) or _("member {n}", n=line)
        if column:
            return _("{file}: {member}, field {field!r}", file=file, member=name, field=column)
        return _("{file}: {member}", file=file, member=name)
    if kind == "pdf":
        return _("{file}, field {field!r}", file=file, field=column) if column else file
    if column:
        return _("{file}, line {line}, column {column!r}", file=file, line=line, column=column)
    return _("{file}, line {line}", file=file, line=line)


def batch_rows(session: Session, batch_id: int, *,
               outcome: str | None = None) -> Iterator[RowReport]:
    """The batch's rows in line order (streamed: a million-row batch is never all in memory)."""
    batch, stored, _dept = _load(session, batch_id)
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
            {"code": r.get("code"), "element": r.get("element"), "message": reason_message(r),
             "where": locate(source, stored.original_name, row.line,
                             column_of.get(r.get("element") or ""))
             if column_of.get(r.get("element") or "") else where}
            for r in row.reasons["reasons"])
        yield RowReport(line=row.line, where=where, outcome=row.outcome, reasons=reasons,
                        identifier=row.identifier, raw=dict(row.raw))


def closing_report(session: Session, report: dict[str, Any], *,
                   rejects: int = 0) -> dict[str, Any]:
    """A batch report (``BatchReport.to_dict()``) with its reason counts and, when ``rejects``
    is given, its first ``rejects`` rejected rows (line, where, reasons): what an operator or a
    clerk is shown when a batch ends. Beside the codes, in the current language:
    ``status_text``, ``reason_titles`` (code → short name), each reject's reasons, and
    ``started_text`` / ``finished_text`` in Beijing time (``started_at`` / ``finished_at``
    stay UTC instants)."""
    reasons = batch_detail(session, report["batch_id"]).reasons
    times = {f"{k}_text": china_text(report[f"{k}_at"], seconds=True)
             for k in ("started", "finished") if report.get(f"{k}_at") is not None}
    closing = {**report, "status_text": status_word(str(report.get("status", ""))), **times,
               "reasons": reasons,
               "reason_titles": {code: reason_title(code) for code in reasons}}
    if rejects:
        closing["first_rejects"] = [
            {"line": r.line, "where": r.where,
             "reasons": joined([f"{x['code']}: {x['message']}" for x in r.reasons])}
            for r in itertools.islice(
                batch_rows(session, report["batch_id"], outcome="rejected"), rejects)]
    return closing


def neutralize(cell: str) -> str:
    """``cell``, made inert for spreadsheets: formula-like text (also after whitespace) gets a
    leading ``'``."""
    formula = cell.startswith(FORMULA_PREFIXES) or cell.lstrip().startswith(FORMULA_PREFIXES)
    return "'" + cell if formula else cell


def write_rows_csv(session: Session, batch_id: int, out: IO[str], *,
                   outcome: str | None = None) -> int:
    """Write the batch's rows (of ``outcome`` when given) as CSV to ``out``; the row count.

    Columns, headed in the current language (``line``, ``where``, ``outcome``, ``reasons``,
    ``messages`` in English): the line, where the row is, the outcome in words, the reason
    codes, the reasons in words (each with the cell it names), then the file's own columns
    with the original cells, then the other cells (JSON of anything beyond the header).
    Every cell is :func:`neutralize`\\ d.
    """
    batch, _stored, _dept = _load(session, batch_id)
    header = [str(c) for c in (batch.source or {}).get("columns", ())]
    writer = csv.writer(out)
    writer.writerow([neutralize(c) for c in
                     [_("line"), _("where"), _("outcome"), _("reasons"), _("messages"),
                      *header, _("other cells")]])
    n = 0
    for row in batch_rows(session, batch_id, outcome=outcome):
        codes = " ".join(r["code"] for r in row.reasons)
        messages = joined([_("{where}: {reason}", where=r["where"], reason=r["message"])
                            for r in row.reasons])
        other = {k: v for k, v in row.raw.items() if k not in header}
        cells = [str(row.line), row.where, outcome_word(row.outcome), codes, messages,
                 *(str(row.raw.get(c, "")) for c in header),
                 json.dumps(other, ensure_ascii=False) if other else ""]
        writer.writerow([neutralize(c) for c in cells])
        n += 1
    return n


def row_outcomes(
    session: Session, batch_id: int, *, outcome: str | None = None
) -> list[dict[str, Any]]:
    """Every row of a batch in line order: line, outcome, reasons (code, element, message in
    the current language), identifier."""
    query = select(SourceRow).where(SourceRow.batch_id == batch_id).order_by(SourceRow.line)
    if outcome:
        query = query.where(SourceRow.outcome == outcome)
    return [
        {"line": r.line, "outcome": r.outcome,
         "reasons": [{"code": x.get("code"), "element": x.get("element"),
                      "message": reason_message(x)} for x in r.reasons["reasons"]],
         "identifier": r.identifier}
        for r in session.scalars(query)
    ]
