"""Department inboxes: a clerk drops a file in a folder and gets a batch report back.

Layout (``root`` is ``$LICREG_HOME/inbox`` unless configured; ``licreg inbox prepare`` makes the
folders of every department and the license types it issues)::

    inbox/<department USCC>/<license type code>/<file>        ← departments drop files here
    inbox/<USCC>/<type>/.processing/<run>/<file>               ← claimed by one run
    archive/<USCC>/<type>/<YYYY-MM-DD>/<file>                  ← ingested (or refused), with
    archive/<USCC>/<type>/<YYYY-MM-DD>/<file>.report.json        the batch report and, when
    archive/<USCC>/<type>/<YYYY-MM-DD>/<file>.rejects.csv        rows were rejected, every one

A file is taken once: a run *claims* it by renaming it into a folder of its own, and a rename
is atomic, so two runs (two Prefect workers on a shared disk) never both get it. A claim left by
a run that died goes back to the inbox after :data:`STALE_CLAIM`; the same bytes are then found
ingested or resumed, never ingested twice (see :mod:`registry.batch.leases`).

Files still being written are left alone: hidden and temporary names (``.x``, ``~$x``,
``x.part``, ``x.tmp``, ``x.crdownload``) and files modified in the last ``settle`` seconds.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.batch.reports import closing_report, status_word, write_rows_csv
from registry.batch.run import BatchReport, read_report
from registry.clock import china_day
from registry.db.models import Department, DepartmentType
from registry.errors import BatchBusyError, BatchFailedError, IngestError, NotFoundError

__all__ = [
    "InboxFile",
    "InboxOutcome",
    "drain",
    "prepare_inbox",
    "recover_stale_claims",
    "scan_inbox",
]

PROCESSING = ".processing"
TEMPORARY_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial")
SETTLE_SECONDS = 5.0
"""A file modified more recently than this may still be being copied in."""
STALE_CLAIM = dt.timedelta(hours=1)
"""A claim this old belongs to a run that died (an ingest of a million rows takes minutes)."""


@dataclass(frozen=True)
class InboxFile:
    """A file waiting in (or claimed from) a department's inbox."""

    path: Path
    department: str
    """The department's USCC (its folder's name)."""
    type_code: str
    """The license type (the subfolder's name)."""

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class InboxOutcome:
    """What became of one file."""

    file: InboxFile
    """Where it was found."""
    status: str
    """done / failed / busy (another run ingests the same bytes: left in the inbox) / refused
    (no batch could be made: unknown department or type, an unreadable upload)."""
    archived: Path | None
    """Where the file went (None when it went back to the inbox)."""
    report: dict[str, Any]
    """The batch report (with reason counts), or ``{"error": …}`` when no batch was made."""


def prepare_inbox(session: Session, root: Path) -> list[Path]:
    """Make the inbox folder of every department and license type it issues; the new ones."""
    made = []
    pairs = session.execute(select(Department.uscc, DepartmentType.type_code)
                            .join(DepartmentType, DepartmentType.department_id == Department.id)
                            .order_by(Department.uscc, DepartmentType.type_code))
    for uscc, type_code in pairs:
        folder = root / uscc / type_code
        if not folder.is_dir():
            folder.mkdir(parents=True)
            made.append(folder)
    return made


def _waiting(name: str) -> bool:
    return not (name.startswith((".", "~$")) or name.lower().endswith(TEMPORARY_SUFFIXES))


def scan_inbox(root: Path, *, settle: float = SETTLE_SECONDS) -> list[InboxFile]:
    """Files waiting in ``root``, oldest first (a file being written is not waiting yet).

    Each file is looked at once: another run may claim it (rename it away) at any moment."""
    found: list[tuple[float, str, InboxFile]] = []
    cutoff = time.time() - settle
    for dept in sorted(p for p in root.glob("*") if p.is_dir() and _waiting(p.name)):
        for type_dir in sorted(p for p in dept.iterdir() if p.is_dir() and _waiting(p.name)):
            for path in type_dir.iterdir():
                if not _waiting(path.name):
                    continue
                try:
                    stat = path.stat()
                except FileNotFoundError:  # claimed by another run since the listing
                    continue
                if S_ISREG(stat.st_mode) and stat.st_mtime <= cutoff:
                    found.append((stat.st_mtime, str(path),
                                  InboxFile(path, dept.name, type_dir.name)))
    return [file for *_, file in sorted(found, key=lambda f: f[:2])]


def _claim(file: InboxFile) -> InboxFile | None:
    """Move the file into a folder only this run uses; None when another run took it first."""
    mine = file.path.parent / PROCESSING / uuid.uuid4().hex
    mine.mkdir(parents=True)
    try:
        file.path.rename(mine / file.name)
    except FileNotFoundError:
        mine.rmdir()
        return None
    return InboxFile(mine / file.name, file.department, file.type_code)


def _unclaim(claimed: InboxFile) -> Path:
    """Put a claimed file back where the department dropped it; where it went."""
    back = _free_name(claimed.path.parent.parent.parent / claimed.name)
    claimed.path.rename(back)
    claimed.path.parent.rmdir()
    return back


def recover_stale_claims(root: Path, *, older_than: dt.timedelta = STALE_CLAIM) -> list[Path]:
    """Claims left by runs that died go back to the inbox; the paths they went back to."""
    back = []
    cutoff = time.time() - older_than.total_seconds()
    for run_dir in root.glob(f"*/*/{PROCESSING}/*"):
        dept, type_code = run_dir.parent.parent.parent.name, run_dir.parent.parent.name
        try:
            if run_dir.stat().st_mtime < cutoff:
                for path in run_dir.iterdir():
                    back.append(_unclaim(InboxFile(path, dept, type_code)))
        except FileNotFoundError:  # another run recovered (or finished) it first
            continue
    return back


def _free_name(path: Path) -> Path:
    """``path``, or ``name (2).ext``, ``name (3).ext`` … when it is taken."""
    n = 1
    candidate = path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
    return candidate


def _archive(claimed: InboxFile, archive_root: Path, *, at: dt.datetime) -> Path:
    day = china_day(at).isoformat()  # archive folders are named by the clerks' day
    target = _free_name(archive_root / claimed.department / claimed.type_code / day
                        / claimed.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(claimed.path, target)
    target.chmod(0o600)  # the archive's now: private, as everything licreg keeps
    claimed.path.parent.rmdir()
    return target


def _write_reports(session: Session | None, archived: Path, report: dict[str, Any]) -> None:
    archived.with_name(archived.name + ".report.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    if session is not None and report.get("rejected"):
        with archived.with_name(archived.name + ".rejects.csv").open(
                "w", encoding="utf-8-sig", newline="") as out:
            write_rows_csv(session, report["batch_id"], out, outcome="rejected")


Ingest = Callable[[InboxFile], BatchReport]
"""Ingests one claimed file (the CLI calls the library, the flow its tasks)."""
Sessions = Callable[[], AbstractContextManager[Session]]
"""Opens a unit of work, e.g. ``lambda: session_scope(engine)``."""


def drain(
    root: Path,
    archive_root: Path,
    ingest: Ingest,
    sessions: Sessions,
    *,
    at: Callable[[], dt.datetime],
    settle: float = SETTLE_SECONDS,
) -> list[InboxOutcome]:
    """Ingest every file waiting in ``root`` once, archive it with its report, and say what
    became of each.

    A file whose batch fails (unreadable rows part-way, say) is archived with its report like
    any other: the department fixes it and drops the corrected file. A file that makes no
    batch at all (its folder names no known department or type) is archived with the error.
    """
    recover_stale_claims(root)
    outcomes = []
    for waiting in scan_inbox(root, settle=settle):
        claimed = _claim(waiting)
        if claimed is None:  # another run took it between our scan and our claim
            continue
        try:
            report = ingest(claimed)
        except BatchFailedError as exc:  # recorded on its batch: report it like any other
            with sessions() as session:
                report = read_report(session, exc.batch_id)
        except BatchBusyError as exc:
            _unclaim(claimed)
            outcomes.append(InboxOutcome(waiting, "busy", None, {"error": str(exc)}))
            continue
        except (IngestError, NotFoundError) as exc:  # no batch: unknown department or type …
            archived = _archive(claimed, archive_root, at=at())
            result = {"file": waiting.name, "status": "refused",  # named as it was dropped
                      "status_text": status_word("refused"),
                      "error": str(exc).replace(str(claimed.path), waiting.name)}
            _write_reports(None, archived, result)
            outcomes.append(InboxOutcome(waiting, "refused", archived, result))
            continue
        archived = _archive(claimed, archive_root, at=at())
        with sessions() as session:
            result = {**closing_report(session, report.to_dict()), "file": waiting.name}
            _write_reports(session, archived, result)
        outcomes.append(InboxOutcome(waiting, report.status, archived, result))
    return outcomes

