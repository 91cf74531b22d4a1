"""``licreg batch …``: what happened to each uploaded batch, row by row."""

from __future__ import annotations

from pathlib import Path

import click

from registry.batch.reports import batch_detail, batch_rows, list_batches, write_rows_csv
from registry.cli._common import echo_json, engine, handle_errors
from registry.config import Settings
from registry.db import session_scope

__all__ = ["batch_group", "batch_list", "batch_rows_command", "batch_show"]

OUTCOMES = click.Choice(["accepted", "filtered", "rejected"])


@click.group("batch")
def batch_group() -> None:
    """Uploaded batches: list, show, rows (and a rejects CSV)."""


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
        echo_json([b.__dict__ for b in batches])
        return
    for b in batches:
        click.echo(f"{b.batch_id:>5}  {b.status:<7}  {b.type_code}  rows {b.rows_read:>7}  "
                   f"accepted {b.accepted} filtered {b.filtered} rejected {b.rejected}  "
                   f"{b.file}")


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
    click.echo(f"batch {s.batch_id}: {s.file} ({d.size} bytes, sha256 {d.sha256[:12]}) "
               f"uploaded by {s.uploader}")
    click.echo(f"department {s.department}, type {s.type_code}, status {s.status}")
    if s.error:
        click.echo(f"error: {s.error}")
    click.echo(f"rows read {s.rows_read}: accepted {s.accepted} ({s.issued} new or changed), "
               f"filtered {s.filtered}, rejected {s.rejected}")
    fmt = d.source.get("format")
    if fmt:
        detail = ", ".join(f"{k} {d.source[k]!r}" for k in ("encoding", "separator", "sheet",
                                                             "header_line") if k in d.source)
        click.echo(f"format {fmt}" + (f" ({detail})" if detail else ""))
    if d.unknown_columns:
        click.echo("unknown columns (kept in the raw rows): " + ", ".join(d.unknown_columns))
    for code, n in d.reasons.items():
        click.echo(f"  {code:<20} {n}")
    if d.elapsed_seconds is not None:
        rate = f", {d.rows_per_second:,.0f} rows/s" if d.rows_per_second else ""
        click.echo(f"time {d.elapsed_seconds:.2f} s{rate}; started {s.started_at:%Y-%m-%d %H:%M}")


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
            click.echo(f"wrote {n} rows to {out}")
            return
        rows = list(batch_rows(session, batch_id, outcome=outcome))
    if as_json:
        echo_json([r.to_dict() for r in rows])
        return
    for r in rows:
        detail = "; ".join(f"{x['code']}: {x['message']}" for x in r.reasons)
        tail = r.identifier if r.outcome == "accepted" and not detail else detail
        click.echo(f"{r.where}  {r.outcome:<8}  {tail}")
