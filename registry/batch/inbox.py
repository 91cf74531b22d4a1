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

Files still being written are left alone and reported as ``waiting``: temporary names
(``x.part``, ``x.tmp``, ``x.crdownload``) and files modified in the last ``settle`` seconds.
Hidden names (``.x``, Excel's ``~$x`` lock files) are not looked at.

What is not a file to ingest is ``refused`` with its reason: a symbolic link (never followed,
never moved: it could point anywhere), a folder or a device in a type folder (left where it
is), a file of a type licreg does not read, by its suffix or by its content (archived with
the reason). Any name is taken: a claimed file is renamed to its :func:`safe_name` (escaped
and short enough for its report's name), so every line that shows it stays one line.

One bad file never stops a run: an unexpected error is logged under an id and the file is
archived as ``failed`` with that id. A claim whose run died on this host (its process is
gone) is recovered on the next run at once; a claim from another host after
:data:`STALE_CLAIM`.

>>> safe_name("a\nb.csv")
'a\\nb.csv'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import shutil
import stat as st
import time
import traceback
import unicodedata
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.batch.leases import holder_dead, runner_name
from registry.batch.reports import closing_report, status_word, write_rows_csv
from registry.batch.run import BatchReport, read_report
from registry.clock import china_day
from registry.db.models import Department, DepartmentType
from registry.errors import BatchBusyError, BatchFailedError, IngestError, NotFoundError
from registry.i18n import _
from registry.ingest.reader import READERS, TEXT_SUFFIXES, refuse_unsupported

__all__ = [
    "InboxFile",
    "InboxOutcome",
    "InboxScan",
    "drain",
    "prepare_inbox",
    "recover_stale_claims",
    "safe_name",
    "scan_inbox",
    "shown",
    "unsupported",
]

log = logging.getLogger(__name__)

PROCESSING = ".processing"
TEMPORARY_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial")
SETTLE_SECONDS = 5.0
"""A file modified more recently than this may still be being copied in."""
STALE_CLAIM = dt.timedelta(hours=1)
"""A claim this old belongs to a run that died (an ingest of a million rows takes minutes)."""
NAME_MAX = 255
"""Bytes in a file name (Linux, macOS, Windows alike)."""
NAME_RESERVE = 24
"""Bytes kept free in a claimed name for what its archive adds (`` (12).rejects.csv``)."""


@dataclass(frozen=True)
class InboxFile:
    """A file waiting in (or claimed from) a department's inbox."""

    path: Path
    department: str
    """The department's USCC (its folder's name; empty for a refused department folder)."""
    type_code: str
    """The license type (the subfolder's name; empty for a refused folder)."""

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def shown(self) -> str:
        """``USCC/type/name`` as a person may read it on one line (see :func:`shown`)."""
        return "/".join(shown(part) for part in (self.department, self.type_code, self.name)
                        if part)


@dataclass(frozen=True)
class InboxOutcome:
    """What became of one file."""

    file: InboxFile
    """Where it was found."""
    status: str
    """done / failed / busy (another run ingests the same bytes: left in the inbox) / refused
    (no batch could be made: unknown department or type, a file type licreg does not read, a
    symbolic link) / waiting (still being written: taken on a later run)."""
    archived: Path | None
    """Where the file went (None when it was left in, or went back to, the inbox)."""
    report: dict[str, Any]
    """The batch report (with reason counts), or ``{"error": …}`` when no batch was made, or
    ``{"waiting_until": …}`` (None for a temporary name: until it is renamed)."""


@dataclass(frozen=True)
class InboxScan:
    """What a look at the inbox found."""

    ready: list[InboxFile]
    """Files to take, oldest first."""
    waiting: list[tuple[InboxFile, dt.datetime | None]]
    """Files still being written, with when they will have settled (None: a temporary name)."""
    refused: list[tuple[InboxFile, str]]
    """What is not a file to take (a symbolic link, a folder, a device), with why; left alone."""


def shown(name: str) -> str:
    """``name`` as a person may read it on one line: bytes that are not UTF-8 as ``\\xNN``,
    control characters (newline, terminal escapes …) as ``\\n``, ``\\x1b`` …"""
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    return "".join(c.encode("unicode_escape").decode("ascii")
                   if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)


def safe_name(name: str) -> str:
    """:func:`shown` ``name``, cut (on a character boundary, its suffix kept, a hash of the
    whole name added) so that it and its archive's additions fit in :data:`NAME_MAX` bytes."""
    text = shown(name)
    budget = NAME_MAX - NAME_RESERVE
    if len(text.encode()) <= budget:
        return text
    suffix = Path(text).suffix if len(Path(text).suffix.encode()) <= 16 else ""
    tag = "~" + hashlib.sha256(os.fsencode(name)).hexdigest()[:8]
    stem = text.removesuffix(suffix) if suffix else text
    cut = stem.encode()[:budget - len(tag) - len(suffix.encode())].decode("utf-8", "ignore")
    return cut + tag + suffix


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


def _looked_at(name: str) -> bool:
    return not name.startswith((".", "~$"))


def _refuse(path: Path, mode: int) -> str | None:
    """Why the entry at ``path`` is not taken, or None for a regular file."""
    if st.S_ISLNK(mode):
        return _("a symbolic link: not followed, left where it is; put the file itself in the "
                 "inbox")
    if st.S_ISDIR(mode):
        return _("a folder: left where it is; put its files (or a .zip of it) in the inbox")
    if not st.S_ISREG(mode):
        return _("not a regular file (a device, a pipe or a socket): left where it is")
    return None


def scan_inbox(root: Path, *, settle: float = SETTLE_SECONDS) -> InboxScan:
    """Look at the files in ``root`` once, never following a symbolic link.

    Each file is looked at once: another run may claim it (rename it away) at any moment."""
    ready: list[tuple[float, str, InboxFile]] = []
    waiting: list[tuple[InboxFile, dt.datetime | None]] = []
    refused: list[tuple[InboxFile, str]] = []
    now = time.time()

    def folders(parent: Path, dept: str | None) -> list[Path]:
        """The sub-folders of ``parent``; symbolic links to folders refused."""
        found = []
        for path in sorted(parent.iterdir()) if parent.is_dir() else []:
            if not _looked_at(path.name):
                continue
            mode = path.lstat().st_mode
            if st.S_ISDIR(mode):
                found.append(path)
            elif st.S_ISLNK(mode):
                refused.append((InboxFile(path, dept or "", ""), _refuse(path, mode) or ""))
        return found

    for dept in folders(root, None):
        for type_dir in folders(dept, dept.name):
            for path in sorted(type_dir.iterdir()):
                if not _looked_at(path.name):
                    continue
                file = InboxFile(path, dept.name, type_dir.name)
                try:
                    stat = path.lstat()
                except FileNotFoundError:  # claimed by another run since the listing
                    continue
                if (why := _refuse(path, stat.st_mode)) is not None:
                    refused.append((file, why))
                elif path.name.lower().endswith(TEMPORARY_SUFFIXES):
                    waiting.append((file, None))
                elif stat.st_mtime > now - settle:
                    waiting.append((file, dt.datetime.fromtimestamp(stat.st_mtime + settle,
                                                                    dt.UTC)))
                else:
                    ready.append((stat.st_mtime, str(path), file))
    return InboxScan([file for *_, file in sorted(ready, key=lambda f: f[:2])], waiting,
                     refused)


def unsupported(path: Path) -> str | None:
    """Why licreg does not read the file at ``path`` (None when it may be read): the readers'
    own refusal by suffix and first bytes (:func:`registry.ingest.reader.refuse_unsupported`),
    and, before any batch is made of it, a text file whose start is no table (no separator in
    its first ten lines) or a JSON file that starts with no object or array."""
    suffix = path.suffix.lower()
    try:
        refuse_unsupported(path, suffix)
    except IngestError as exc:
        return exc.reason
    if suffix not in TEXT_SUFFIXES:
        return None  # .xlsx, .pdf, .zip: their readers check their bytes
    with path.open("rb") as f:
        head = f.read(1 << 16)
    if not head.strip():
        return None  # an empty file: the reader says what is wrong with it
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 (Excel's "Unicode text")
        head = head.decode("utf-16", "ignore").encode()
    text = head.lstrip(b"\xef\xbb\xbf \r\n\t")
    if suffix in (".json", ".jsonl", ".ndjson"):
        fits = text.startswith((b"{", b"[") if suffix == ".json" else b"{")
    else:  # a table has separators on its header line, under a title or two at most
        fits = any(sep in line for line in text.split(b"\n")[:10]
                   for sep in (b",", b";", b"\t", b"|", "，".encode(), "，".encode("gbk")))
    if fits:
        return None
    return _("its content is not what {suffix} says (not a table licreg reads); supported: "
             "{known}; save the table as one of these and drop it again", suffix=suffix,
             known=", ".join(sorted(READERS)))


def _claim(file: InboxFile) -> InboxFile | None:
    """Move the file into a folder only this run uses; None when another run took it first."""
    mine = file.path.parent / PROCESSING / f"{uuid.uuid4().hex}@{runner_name()}"
    mine.mkdir(parents=True)
    name = safe_name(file.name)
    try:
        file.path.rename(mine / name)
    except FileNotFoundError:
        mine.rmdir()
        return None
    return InboxFile(mine / name, file.department, file.type_code)


def _claimer_died(run_dir: Path) -> bool:
    """The run that made ``run_dir`` (``<uuid>@<host>:<pid>``) is gone from this host (as a
    batch's lease holder is: :func:`registry.batch.leases.holder_dead`)."""
    return holder_dead(run_dir.name.partition("@")[2])


def _unclaim(claimed: InboxFile, name: str | None = None) -> Path:
    """Put a claimed file back where the department dropped it (as ``name``); where it went."""
    back = _free_name(claimed.path.parent.parent.parent / (name or claimed.name))
    claimed.path.rename(back)
    claimed.path.parent.rmdir()
    return back


def recover_stale_claims(root: Path, *, older_than: dt.timedelta = STALE_CLAIM) -> list[Path]:
    """Claims left by runs that died go back to the inbox; the paths they went back to.

    A claim is recovered at once when its run's process is gone from this host, else when it
    is older than ``older_than``."""
    back = []
    cutoff = time.time() - older_than.total_seconds()
    for run_dir in root.glob(f"*/*/{PROCESSING}/*"):
        dept, type_code = run_dir.parent.parent.parent.name, run_dir.parent.parent.name
        try:
            if run_dir.lstat().st_mtime < cutoff or _claimer_died(run_dir):
                for path in run_dir.iterdir():
                    back.append(_unclaim(InboxFile(path, dept, type_code)))
                if run_dir.exists():  # the run died before its rename: an empty claim
                    run_dir.rmdir()
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
    unexpected: Callable[[Exception], str] | None = None,
) -> list[InboxOutcome]:
    """Ingest every file waiting in ``root`` once, archive it with its report, and say what
    became of each (and of what was left alone: refused entries, files still being written).

    A file whose batch fails (unreadable rows part-way, say) is archived with its report like
    any other: the department fixes it and drops the corrected file. A file that makes no
    batch at all (its folder names no known department or type, a type licreg does not read)
    is archived with the error. An unexpected error fails that file alone: ``unexpected``
    logs it and says what a person reads (by default: to this module's logger, by an id).
    """
    recover_stale_claims(root)
    scan = scan_inbox(root, settle=settle)
    outcomes = [InboxOutcome(file, "refused", None, {"file": shown(file.name), "error": why})
                for file, why in scan.refused]
    for waiting in scan.ready:
        claimed = _claim(waiting)
        if claimed is None:  # another run took it between our scan and our claim
            continue
        if (why := _refuse(claimed.path, claimed.path.lstat().st_mode)) is not None:
            _unclaim(claimed, waiting.name)  # swapped for a link since the scan: put back
            outcomes.append(InboxOutcome(waiting, "refused", None,
                                         {"file": shown(waiting.name), "error": why}))
            continue
        outcomes.append(_take(waiting, claimed, archive_root, ingest, sessions, at=at,
                              unexpected=unexpected or _logged))
    outcomes += [InboxOutcome(file, "waiting", None,
                              {"file": shown(file.name), "waiting_until": until})
                 for file, until in scan.waiting]
    return outcomes


def _take(waiting: InboxFile, claimed: InboxFile, archive_root: Path, ingest: Ingest,
          sessions: Sessions, *, at: Callable[[], dt.datetime],
          unexpected: Callable[[Exception], str]) -> InboxOutcome:
    """Ingest one claimed file and archive it with its report; never raises for the file."""
    name = shown(waiting.name)  # reports name the file as it was dropped, on one line
    try:
        if (why := unsupported(claimed.path)) is not None:
            raise IngestError(why, file=str(claimed.path))
        try:
            report = ingest(claimed)
        except BatchFailedError as exc:  # recorded on its batch: report it like any other
            with sessions() as session:
                report = read_report(session, exc.batch_id)
        except BatchBusyError as exc:
            _unclaim(claimed, waiting.name)
            return InboxOutcome(waiting, "busy", None, {"error": str(exc)})
        archived = _archive(claimed, archive_root, at=at())
        with sessions() as session:
            result = {**closing_report(session, report.to_dict()), "file": name}
            _write_reports(session, archived, result)
        return InboxOutcome(waiting, report.status, archived, result)
    except (IngestError, NotFoundError) as exc:  # no batch: unknown department or type …
        return _archive_refusal(waiting, claimed, archive_root, at, "refused", name,
                                str(exc).replace(str(claimed.path), name))
    except Exception as exc:  # one bad file never stops the run
        return _archive_refusal(waiting, claimed, archive_root, at, "failed", name,
                                _("{where}: {message}", where=name, message=unexpected(exc)))


def _logged(exc: Exception) -> str:
    """Log an unexpected error by an id (its class and frames, never its message: it may
    hold a holder's data); what a person reads."""
    error_id = secrets.token_hex(4)
    log.error("inbox: unexpected error %s: %s\n%s", error_id, type(exc).__qualname__,
              "".join(traceback.format_tb(exc.__traceback__)))
    return _("unexpected error {id} ({kind}); the file is archived: tell the registry's "
             "administrator this id", id=error_id, kind=type(exc).__name__)


def _archive_refusal(waiting: InboxFile, claimed: InboxFile, archive_root: Path,
                     at: Callable[[], dt.datetime], status: str, name: str,
                     error: str) -> InboxOutcome:
    """Archive a file that made no report of its own with one saying why (left claimed, to
    be recovered by the next run, if even that fails)."""
    result = {"file": name, "status": status, "status_text": status_word(status),
              "error": error}
    archived: Path | None = None
    try:
        archived = _archive(claimed, archive_root, at=at())
        _write_reports(None, archived, result)
    except OSError as exc:
        log.error("inbox: cannot archive a file of %s/%s: %s", claimed.department,
                  claimed.type_code, type(exc).__qualname__)
    return InboxOutcome(waiting, status, archived, result)
