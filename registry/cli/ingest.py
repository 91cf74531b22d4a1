"""``licreg ingest``: a clerk's upload, reported row by row."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy import Engine

from registry.batch.reports import (
    batch_detail,
    joined,
    outcome_word,
    reason_title,
    row_outcomes,
    status_word,
)
from registry.batch.run import (
    BatchReport,
    IngestProgress,
    ingest_file,
    read_options_for,
    read_report,
)
from registry.cli._common import echo_json, engine, handle_errors, now
from registry.cli.progress import progress_bar
from registry.config import Settings
from registry.db import session_scope
from registry.errors import BatchFailedError
from registry.i18n import _

__all__ = ["counts_line", "ingest", "show_ingested"]


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--department", "department_uscc", required=True, help="Issuing department's USCC.")
@click.option("--type", "type_code", required=True, help="21-character license type code.")
@click.option("--uploader", default="cli", show_default=True, help="Who uploads the file.")
@click.option("--mapping", "mapping_file", type=click.Path(path_type=Path), default=None,
              help="JSON mapping of the department's column names to element codes "
                   "(schemas/mapping.schema.json).")
@click.option("--sheet", default=None,
              help="Workbook sheet to read (default: the only one with data).")
@click.option("--header-row", type=click.IntRange(min=1), default=None,
              help="Line or sheet row of the header; rows above it are titles.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def ingest(settings: Settings, file: Path, department_uscc: str, type_code: str, uploader: str,
           mapping_file: Path | None, sheet: str | None, header_row: int | None,
           as_json: bool) -> None:
    """Ingest a department file (CSV, .xlsx, JSON, JSON Lines, a PDF, or a .zip or folder of
    PDFs): validate, filter, structure, seal, store; report every row.

    Exit code 1 when the batch failed (rejected rows are its outcome, not a failure).
    """

    eng = engine(settings)
    options = read_options_for(eng, type_code, mapping_file=mapping_file, sheet=sheet,
                               header_row=header_row)

    def run() -> BatchReport:
        with _progress_bar(file, quiet=as_json) as progress:
            return ingest_file(eng, settings, file, department_uscc=department_uscc,
                               type_code=type_code, uploader=uploader, at=now(),
                               options=options, progress=progress)

    show_ingested(eng, run, as_json=as_json)


def show_ingested(eng: Engine, run: Callable[[], BatchReport], *, as_json: bool) -> None:
    """Run an ingestion and say what became of its batch (row by row when it is small)."""
    try:
        report = run()
    except BatchFailedError as exc:
        if not as_json:
            raise  # one line on stderr (handle_errors)
        with session_scope(eng) as session:  # --json: the failed batch's report, then exit 1
            report = read_report(session, exc.batch_id)
    listed = report.rows_read <= ROW_LIST_MAX
    with session_scope(eng) as session:
        rows = row_outcomes(session, report.batch_id) if listed else []
        reasons = batch_detail(session, report.batch_id).reasons
    if as_json:
        echo_json({**report.to_dict(), "status_text": status_word(report.status),
                   "reasons": reasons,
                   "reason_titles": {code: reason_title(code) for code in reasons},
                   "rows": rows if listed else None})
        sys.exit(1 if report.status == "failed" else 0)
    note = _("  (same bytes ingested before: nothing new)") if report.already_ingested else ""
    click.echo(_("batch {batch_id}: {file} sha256 {sha256}", batch_id=report.batch_id,
                 file=report.file, sha256=report.sha256[:12]) + note)
    click.echo(counts_line(report.rows_read, report.accepted, report.issued, report.filtered,
                           report.rejected))
    if not listed:
        for code, n in reasons.items():
            click.echo(f"  {code:<20} {n:>7}  {reason_title(code)}")
        click.echo(_("every row: licreg batch rows {batch_id} --outcome rejected "
                     "--out rejects.csv", batch_id=report.batch_id))
    for r in rows:
        detail = joined([x["message"] for x in r["reasons"]])
        tail = r["identifier"] if r["outcome"] == "accepted" and not detail else detail
        click.echo(_("  line {line:>5}  {outcome:<8}  {detail}", line=r["line"],
                     outcome=outcome_word(r["outcome"]), detail=tail))


def counts_line(rows: int, accepted: int, issued: int, filtered: int, rejected: int) -> str:
    """The counts of a batch, as ``licreg ingest`` and ``licreg batch show`` say them."""
    return _("rows read {rows}: accepted {accepted} ({issued} new or changed), filtered "
             "{filtered}, rejected {rejected}", rows=rows, accepted=accepted, issued=issued,
             filtered=filtered, rejected=rejected)


ROW_LIST_MAX = 1_000
"""Batches up to this many rows are listed row by row; bigger ones by reason counts."""
BIG_FILE = 1 << 20
"""Files from this size on get a progress bar on stderr."""


@contextmanager
def _progress_bar(file: Path, *, quiet: bool) -> Iterator[Callable[[IngestProgress], None] | None]:
    """A progress callback drawing a bar on stderr for a big file (None for a small one)."""
    small = not file.is_file() or file.stat().st_size < BIG_FILE
    with progress_bar(_("ingesting {file}", file=file.name), quiet=quiet or small) as bar:
        if bar is None:
            yield None
            return

        def update(p: IngestProgress) -> None:
            bar(p.done, p.total, _("ingesting {file}: {rows} rows read", file=file.name,
                                   rows=f"{p.rows_read:,}"))

        yield update
