"""``licreg batch …``: what happened to each uploaded batch, row by row."""

from __future__ import annotations

from pathlib import Path

import click

from registry.batch.reports import (
    batch_detail,
    batch_rows,
    joined,
    list_batches,
    outcome_word,
    reason_title,
    status_word,
    write_rows_csv,
)
from registry.batch.run import retry_batch
from registry.cli._common import echo_json, engine, handle_errors, now
from registry.cli.ingest import counts_line, show_ingested
from registry.cli.terminal import visible
from registry.clock import china_text
from registry.config import Settings
from registry.db import session_scope
from registry.i18n import N_, _
from registry.ingest.messages import listed

__all__ = ["batch_group", "batch_list", "batch_retry", "batch_rows_command", "batch_show"]

OUTCOMES = click.Choice(["accepted", "filtered", "rejected"])
_SOURCE_WORDS = {"encoding": N_("encoding"), "separator": N_("separator"), "sheet": N_("sheet"),
                 "header_line": N_("header line")}
"""What ``batch show`` says of how the file was read (the keys of a batch's source)."""


@click.group("batch")
def batch_group() -> None:
    """Uploaded batches: list, show, rows (and a rejects CSV), retry a failed one."""


@batch_group.command("list")
@click.option("--limit", type=int, default=None, help="Newest N batches only.")
@click.option("--department", default=None, help="Only this department's USCC.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def batch_list(settings: Settings, limit: int | None, department: str | None,
               as_json: bool) -> None:
    """List batches, newest first."""

    with session_scope(engine(settings)) as session:
        batches = list_batches(session, limit=limit, department=department)
    if as_json:
        echo_json([{**b.__dict__, "status_text": status_word(b.status)} for b in batches])
        return
    for b in batches:
        click.echo(_("{batch_id:>5}  {status:<7}  {type_code}  rows {rows:>7}  accepted "
                     "{accepted} filtered {filtered} rejected {rejected}  {file}",
                     batch_id=b.batch_id, status=status_word(b.status), type_code=b.type_code,
                     rows=b.rows_read, accepted=b.accepted, filtered=b.filtered,
                     rejected=b.rejected, file=b.file))


@batch_group.command("show")
@click.argument("batch_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def batch_show(settings: Settings, batch_id: int, as_json: bool) -> None:
    """Counts, reasons by kind, unknown columns and timing of one batch."""

    with session_scope(engine(settings)) as session:
        d = batch_detail(session, batch_id)
    if as_json:
        echo_json(d.to_dict())
        return
    s = d.summary
    click.echo(_("batch {batch_id}: {file} ({size} bytes, sha256 {sha256}) uploaded by "
                 "{uploader}", batch_id=s.batch_id, file=s.file, size=d.size,
                 sha256=d.sha256[:12], uploader=s.uploader))
    click.echo(_("department {department}, type {type_code}, status {status}",
                 department=s.department, type_code=s.type_code, status=status_word(s.status)))
    if s.error:
        click.echo(_("error: {detail}", detail=s.error))
    for earlier in d.earlier_errors:
        click.echo(_("an earlier run failed: {detail}", detail=earlier))
    if d.attempts:
        click.echo(_("other attempts at the same file: {batches}", batches=listed(
            [_("batch {batch_id} ({status})", batch_id=i, status=status_word(st))
             for i, st in d.attempts])))
    click.echo(counts_line(s.rows_read, s.accepted, s.issued, s.filtered, s.rejected))
    fmt = d.source.get("format")
    if fmt:
        detail = listed([_("{what} {value!r}", what=_(word), value=d.source[k])
                         for k, word in _SOURCE_WORDS.items() if k in d.source])
        click.echo(_("format {format} ({detail})", format=fmt, detail=detail) if detail
                   else _("format {format}", format=fmt))
    if d.unknown_columns:
        click.echo(_("unknown columns (kept in the raw rows): {columns}",
                     columns=listed(d.unknown_columns)))
    for code, n in d.reasons.items():
        click.echo(f"  {code:<20} {n:>7}  {reason_title(code)}")
    if d.elapsed_seconds is not None:
        seconds, started = f"{d.elapsed_seconds:.2f}", china_text(s.started_at)
        click.echo(_("time {seconds} s, {rate} rows/s; started {started}", seconds=seconds,
                     rate=f"{d.rows_per_second:,.0f}", started=started) if d.rows_per_second
                   else _("time {seconds} s; started {started}", seconds=seconds,
                          started=started))


@batch_group.command("rows")
@click.argument("batch_id", type=int)
@click.option("--outcome", type=OUTCOMES, default=None, help="Only rows with this outcome.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write a CSV (UTF-8 with BOM, formula cells neutralised) instead.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def batch_rows_command(settings: Settings, batch_id: int, outcome: str | None, out: Path | None,
                       as_json: bool) -> None:
    """Every row of a batch (or those of one outcome): where it is, what happened, why."""

    with session_scope(engine(settings)) as session:
        if out is not None:
            # UTF-8 with a BOM: Excel then opens the Chinese cells correctly.
            with out.open("w", encoding="utf-8-sig", newline="") as f:
                n = write_rows_csv(session, batch_id, f, outcome=outcome)
            click.echo(_("wrote {n} rows to {file}", n=n, file=out))
            return
        rows = list(batch_rows(session, batch_id, outcome=outcome))
    if as_json:
        echo_json([r.to_dict() for r in rows])
        return
    for r in rows:
        detail = joined([f"{x['code']}: {x['message']}" for x in r.reasons])
        tail = r.identifier if r.outcome == "accepted" and not detail else detail
        click.echo(visible(_("{where}  {outcome:<8}  {detail}", where=r.where,
                             outcome=outcome_word(r.outcome), detail=tail)))


@batch_group.command("retry")
@click.argument("batch_id", type=int)
@click.option("--file", "file", type=click.Path(path_type=Path), default=None,
              help="The file fixed (default: the batch's own stored file).")
@click.option("--mapping", "mapping_file", type=click.Path(path_type=Path), default=None,
              help="JSON mapping of the department's column names to element codes.")
@click.option("--sheet", default=None, help="Workbook sheet to read.")
@click.option("--header-row", type=click.IntRange(min=1), default=None,
              help="Line or sheet row of the header; rows above it are titles.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def batch_retry(settings: Settings, batch_id: int, file: Path | None, mapping_file: Path | None,
                sheet: str | None, header_row: int | None, as_json: bool) -> None:
    """Run a failed batch again: its file (or --file, fixed), read as before but for the
    options given. Another file or other options make a new batch beside it.

    Exit code 1 when the batch fails again."""

    eng = engine(settings)
    show_ingested(eng, lambda: retry_batch(eng, settings, batch_id, at=now(), file=file,
                                           mapping_file=mapping_file, sheet=sheet,
                                           header_row=header_row), as_json=as_json)
