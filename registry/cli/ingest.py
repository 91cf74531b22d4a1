"""``licreg ingest``: a clerk's upload, reported row by row."""

from __future__ import annotations

from pathlib import Path

import click

from registry.cli import cli
from registry.cli._common import echo_json, engine, handle_errors, now
from registry.config import Settings
from registry.db import session_scope


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--department", "department_uscc", required=True, help="Issuing department's USCC.")
@click.option("--type", "type_code", required=True, help="21-character license type code.")
@click.option("--uploader", default="cli", show_default=True, help="Who uploads the file.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def ingest(settings: Settings, file: Path, department_uscc: str, type_code: str, uploader: str,
           as_json: bool) -> None:
    """Ingest a department file: validate, filter, structure, seal, store; report every row."""
    from registry.batches import ingest_file, row_outcomes

    eng = engine(settings)
    report = ingest_file(eng, settings, file, department_uscc=department_uscc,
                         type_code=type_code, uploader=uploader, at=now())
    with session_scope(eng) as session:
        rows = row_outcomes(session, report.batch_id)
    if as_json:
        echo_json({**report.to_dict(), "rows": rows})
        return
    note = "  (same bytes ingested before: nothing new)" if report.already_ingested else ""
    click.echo(f"batch {report.batch_id}: {report.file} sha256 {report.sha256[:12]}{note}")
    click.echo(f"rows read {report.rows_read}: accepted {report.accepted} ({report.issued} new "
               f"or changed), filtered {report.filtered}, rejected {report.rejected}")
    for r in rows:
        detail = "; ".join(x["message"] for x in r["reasons"])
        tail = r["identifier"] if r["outcome"] == "accepted" and not detail else detail
        click.echo(f"  line {r['line']:>5}  {r['outcome']:<8}  {tail}")
