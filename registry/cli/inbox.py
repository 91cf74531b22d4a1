"""``licreg inbox …``: department drop folders — prepare them, ingest what is waiting."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from registry.batch.inbox import (
    SETTLE_SECONDS,
    InboxFile,
    InboxOutcome,
    drain,
    prepare_inbox,
    shown,
)
from registry.batch.reports import status_word
from registry.batch.run import BatchReport, ingest_file
from registry.cli._common import echo_json, engine, handle_errors, now, unexpected_error
from registry.clock import china_text
from registry.config import Settings
from registry.db import session_scope
from registry.i18n import _, ngettext

__all__ = ["inbox_group", "inbox_prepare", "inbox_run"]


@click.group("inbox")
def inbox_group() -> None:
    """Department inboxes: drop a file in inbox/<USCC>/<type code>/, get a batch report."""


@inbox_group.command("prepare")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def inbox_prepare(settings: Settings, as_json: bool) -> None:
    """Make the inbox folder of every department and license type it issues."""

    root, archive = settings.inbox, settings.archive
    with session_scope(engine(settings)) as session:
        made = prepare_inbox(session, root)
    if as_json:
        echo_json({"inbox": str(root), "archive": str(archive), "made": [str(f) for f in made]})
        return
    for folder in made:
        click.echo(_("made {folder}", folder=folder))
    click.echo(_("inbox {root} ({n} new folders); archive {archive}", root=root, n=len(made),
                 archive=archive))


@inbox_group.command("run")
@click.option("--settle", type=float, default=None,
              help="Seconds a file must be left unmodified before it is taken (default 5).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def inbox_run(settings: Settings, settle: float | None, as_json: bool) -> None:
    """Ingest every file waiting in the inboxes once, archive each with its report.

    Exit code 1 when any file failed or was refused (each is reported all the same); files
    still being written are reported as waiting and taken by a later run.
    """

    eng = engine(settings)

    def ingest(file: InboxFile) -> BatchReport:
        return ingest_file(eng, settings, file.path, department_uscc=file.department,
                           type_code=file.type_code, uploader=f"inbox:{file.department}",
                           at=now())

    root, archive = settings.inbox, settings.archive
    outcomes = drain(root, archive, ingest, lambda: session_scope(eng), at=now,
                     settle=SETTLE_SECONDS if settle is None else settle,
                     unexpected=lambda exc: unexpected_error(exc, settings))
    if as_json:
        echo_json([{"file": shown(str(o.file.path)), "status": o.status,
                    "status_text": status_word(o.status),
                    "archived": str(o.archived) if o.archived else None, "report": o.report}
                   for o in outcomes])
    else:
        _render(outcomes, root, archive)
    if any(o.status in FAILED for o in outcomes):
        sys.exit(1)


FAILED = frozenset({"failed", "refused"})
"""Outcomes that make ``inbox run`` exit 1 (``busy`` files are simply left for later)."""


def _render(outcomes: list[InboxOutcome], root: Path, archive: Path) -> None:
    waiting = [o for o in outcomes if o.status == "waiting"]
    for o in outcomes:
        r = o.report
        if o.status == "waiting":
            until = r["waiting_until"]
            click.echo(_("{status:<8} {file}: still being written; {when}",
                         status=status_word(o.status), file=o.file.shown,
                         when=_("taken by a run after {time}", time=china_text(until, seconds=True))
                         if until else _("taken once it is renamed")))
            continue
        counts = (_("rows {rows}: accepted {accepted}, filtered {filtered}, rejected "
                    "{rejected}", rows=r["rows_read"], accepted=r["accepted"],
                    filtered=r["filtered"], rejected=r["rejected"]) if r.get("rows_read") else "")
        if r.get("error"):
            error = _unnamed(r["error"], o.file.name)
            counts = _("{counts}; {error}", counts=counts, error=error) if counts else error
        where = (f" → {_short(o.archived, archive)}" if o.archived
                 else _(" (left in the inbox)"))
        click.echo(_("{status:<8} {file}: {detail}{where}", status=status_word(o.status),
                     file=o.file.shown, detail=counts, where=where))
    click.echo(_("{n} file(s) from {root}", n=len(outcomes) - len(waiting), root=root))
    if waiting:
        times = [o.report["waiting_until"] for o in waiting if o.report["waiting_until"]]
        click.echo(ngettext("{n} file still being written is waiting{until}",
                            "{n} files still being written are waiting{until}", len(waiting),
                            n=len(waiting),
                            until=_(" (the last until {time})",
                                    time=china_text(max(times), seconds=True)) if times else ""))


def _unnamed(error: str, name: str) -> str:
    """``error`` without the file name it starts with: the line names the file already."""
    return error.removeprefix(_("{where}: {message}", where=name, message=""))


def _short(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base.parent))
    except ValueError:
        return str(path)
