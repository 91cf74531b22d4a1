"""Archives: a ``.zip`` (or a folder) of existing license PDFs, one row per member.

A department that already issued its licenses as PDFs (存量证照) uploads them as a zip or a
folder. The archive is checked as a whole before anything is read, and refused with an
:class:`ArchiveError` when it is hostile or too big:

1. member names: absolute paths, ``..`` components, drive letters, backslashes, NUL and
   symbolic links are refused (path traversal), even though nothing is ever extracted to disk;
2. counts and sizes: at most :attr:`~registry.ingest.limits.Limits.max_members` members, each at
   most ``max_member_bytes`` uncompressed, all together at most ``max_uncompressed_bytes``,
   judged from the central directory *before* decompressing anything, and each member is then
   inflated 1 MiB at a time and must match its entry (:func:`read_member`), so a forged size
   costs no memory;
3. compression ratio: a member of more than 1 MiB that expands over ``max_ratio`` times is a
   zip bomb; encrypted members are refused.

Then every member is one row, in name order, ``LINE`` = its 1-based position among the
members (directories and OS litter such as ``__MACOSX/`` and ``.DS_Store`` are skipped and
not counted). A PDF becomes its elements (:mod:`registry.ingest.pdf`); a member that cannot be
read, repeats an earlier member's bytes, is not a PDF or is itself an archive becomes a row
with a problem, rejected with that reason: one bad PDF never stops the others.

A folder is packed into a deterministic zip first (:func:`pack_folder`: sorted names, fixed
times), so a folder and its zip are stored and read the same way and uploading the same
folder twice is the same bytes twice.

>>> from registry.ingest.frames import ReadOptions
>>> [m.name for m in list_members(Path("fixtures/formats/licenses.zip"))]  # doctest: +SKIP
['营业执照-001.pdf', '营业执照-002.pdf']
"""

from __future__ import annotations

import hashlib
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from registry.errors import ArchiveError, IngestError, StockPdfError
from registry.i18n import N_, _
from registry.ingest.frames import ReadOptions, problem
from registry.ingest.limits import DEFAULT_LIMITS, Limits
from registry.ingest.messages import text
from registry.ingest.pdf import (
    UNREADABLE_FILE,
    Document,
    documents_frame,
    pdf_problem,
    read_pdf,
)

__all__ = [
    "DUPLICATE_FILE",
    "UNSUPPORTED_MEMBER",
    "Member",
    "check_zip",
    "list_members",
    "pack_folder",
    "read_archive",
    "read_member",
    "unsafe_name",
]

DUPLICATE_FILE = "DUPLICATE_FILE"
"""Reason code: a member has the same bytes as an earlier member of the same archive."""
UNSUPPORTED_MEMBER = "UNSUPPORTED_MEMBER"
"""Reason code: a member is not a PDF (a table, an image, a nested archive …)."""

_LITTER = ("__MACOSX/", ".DS_Store", "Thumbs.db", "desktop.ini")
_RATIO_FLOOR = 1 << 20
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_CHUNK = 1 << 20
_CANNOT_INFLATE = (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError,
                   ValueError, RuntimeError)
"""What zipfile raises on a member it cannot inflate (a forged header raises any of these)."""


def unsafe_name(name: str) -> str | None:
    """Why a member name could escape its folder when extracted, or None when it is safe."""
    if "\x00" in name:
        return N_("holds a NUL character")
    if "\\" in name:
        return N_("uses backslashes (a Windows path that can climb out of the folder)")
    if name.startswith("/"):
        return N_("is an absolute path")
    if len(name) >= 2 and name[1] == ":":
        return N_("starts with a drive letter")
    if ".." in PurePosixPath(name).parts:
        return N_("climbs out of the folder with '..'")
    return None


def _is_litter(name: str) -> bool:
    return name.endswith("/") or any(name.startswith(p) or name.rsplit("/", 1)[-1] == p
                                     for p in _LITTER)


def check_zip(zf: zipfile.ZipFile, *, file: str, limits: Limits = DEFAULT_LIMITS
              ) -> list[zipfile.ZipInfo]:
    """Steps 1–3 of the module docstring; the archive's members, litter included."""
    infos = zf.infolist()
    limits.check("members", len(infos), file=file)
    total = 0
    for info in infos:
        name = info.filename
        why = unsafe_name(name)
        if why is not None:
            raise ArchiveError(_("member {name!r} {why}: path traversal refused", name=name,
                                 why=_(why)), file=file)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ArchiveError(_("member {name!r} is a symbolic link: refused", name=name),
                               file=file)
        if info.flag_bits & 0x1:
            raise ArchiveError(_("member {name!r} is encrypted: upload it without a password",
                                 name=name), file=file)
        limits.check("member_bytes", info.file_size, file=f"{file}: member {name!r}")
        if info.file_size > _RATIO_FLOOR:
            ratio = info.file_size // max(info.compress_size, 1)
            if ratio > limits.max_ratio:
                raise ArchiveError(
                    _("member {name!r} expands {ratio} times ({compressed} → {size} bytes): a "
                      "zip bomb, refused (Limits.max_ratio is {limit})", name=name, ratio=ratio,
                      compressed=info.compress_size, size=info.file_size,
                      limit=limits.max_ratio), file=file)
        total += info.file_size
    limits.check("uncompressed_bytes", total, file=file)
    return infos


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, *, keep: bool = True) -> bytes:
    """A member's bytes (``b""`` unless ``keep``), inflated 1 MiB at a time and counted as they
    come, so memory stays at one chunk above the declared size, whatever the member really
    inflates to. ``zipfile.read`` inflates in one call of up to 2 GiB before it cuts to the
    declared size: a 1,000-byte entry that inflates to 1 GiB took 1 GiB of memory.

    Raises :class:`zipfile.BadZipFile` when the member cannot be inflated or does not match its
    directory entry (more bytes than declared, or a wrong CRC-32).
    """
    parts: list[bytes] = []
    total = 0
    try:
        with zf.open(info) as f:
            while chunk := f.read(_CHUNK):
                total += len(chunk)
                if total > info.file_size:
                    raise zipfile.BadZipFile(_("it inflates to more than the {size} bytes its "
                                               "directory entry declares", size=info.file_size))
                if keep:
                    parts.append(chunk)
    except zipfile.BadZipFile as exc:
        if "CRC" not in str(exc):
            raise
        # zipfile stops at the declared size, so more bytes show as a wrong checksum
        raise zipfile.BadZipFile(_("it does not match its directory entry ({size} bytes, "
                                   "CRC-32): it inflates to more, or it is damaged",
                                   size=info.file_size)) from exc
    except _CANNOT_INFLATE as exc:
        raise zipfile.BadZipFile(f"{type(exc).__name__}: {exc}") from exc
    return b"".join(parts)


@dataclass(frozen=True)
class Member:
    """One row of an archive batch."""

    line: int
    """The row's ``LINE``: 1-based position among the members, in name order."""
    name: str
    """Path inside the archive."""
    size: int
    """Uncompressed size in bytes."""


def _open(path: Path, limits: Limits) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    file = str(path)
    limits.check("file_bytes", path.stat().st_size, file=file)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise IngestError(_("not a readable .zip archive ({error}); make the archive again "
                            "and upload it, or upload the PDFs one by one", error=exc),
                          file=file) from exc
    try:
        infos = check_zip(zf, file=file, limits=limits)
    except BaseException:
        zf.close()
        raise
    members = sorted((i for i in infos if not _is_litter(i.filename)), key=lambda i: i.filename)
    return zf, members


def list_members(path: Path, *, limits: Limits = DEFAULT_LIMITS) -> list[Member]:
    """The rows an archive batch will have, checked (raises :class:`ArchiveError`)."""
    zf, infos = _open(path, limits)
    with zf:
        return [Member(k, i.filename, i.file_size) for k, i in enumerate(infos, start=1)]


def read_archive(path: Path, chunk_rows: int, options: ReadOptions) -> Iterator[pd.DataFrame]:
    """Stream an archive of PDFs, one row per member (see the module docstring)."""

    zf, infos = _open(path, options.limits)  # refused here, before any row is handed out

    source = {"format": "zip", "members": [[k, i.filename, i.file_size]
                                           for k, i in enumerate(infos, start=1)]}

    def rows() -> Iterator[pd.DataFrame]:
        seen: dict[str, str] = {}
        batch: list[Document] = []
        with zf:
            for line, info in enumerate(infos, start=1):
                name = info.filename
                doc: Document
                if not name.lower().endswith(".pdf"):
                    nested = name.lower().endswith((".zip", ".rar", ".7z", ".tar", ".gz"))
                    doc = Document(line, name, {}, (problem(
                        UNSUPPORTED_MEMBER, None,
                        text(N_("{name}: an archive inside the archive; an archive batch holds "
                                "license PDFs only"), name=name) if nested else
                        text(N_("{name}: not a PDF; an archive batch holds license PDFs only"),
                             name=name)),))
                else:
                    try:
                        data = read_member(zf, info)
                    except zipfile.BadZipFile as exc:
                        data, digest = b"", ""
                        doc = Document(line, name, {}, (problem(
                            UNREADABLE_FILE, None,
                            text(N_("{name}: cannot be extracted from the archive ({error})"),
                                 name=name, error=str(exc))),))
                    else:
                        digest = hashlib.sha256(data).hexdigest()
                    if not digest:
                        pass
                    elif digest in seen:
                        doc = Document(line, name, {}, (problem(
                            DUPLICATE_FILE, None,
                            text(N_("{name}: same bytes as {first}; counted once"), name=name,
                                 first=seen[digest])),))
                    else:
                        seen[digest] = name
                        try:
                            doc = Document(line, name, read_pdf(data, file=name,
                                                                options=options), ())
                        except StockPdfError as exc:
                            doc = Document(line, name, {}, (
                                problem(exc.code, None, text(N_("{name}: {problem}"), name=name,
                                                             problem=pdf_problem(exc))),))
                batch.append(doc)
                if len(batch) >= chunk_rows:
                    yield documents_frame(batch, options, progress=(line, len(infos)),
                                          source=source)
                    batch = []
            if batch or not infos:
                yield documents_frame(batch, options, progress=(len(infos), len(infos)),
                                      source=source)

    return rows()


def pack_folder(folder: Path, out: Path, *, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """Write ``folder``'s files into the zip ``out``, deterministically; the member names.

    Symbolic links are refused (they could point anywhere); sizes are checked as for a zip.
    """
    file = str(folder)
    files: list[tuple[str, Path]] = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink():
            raise ArchiveError(_("{name!r} is a symbolic link: refused", name=rel), file=file)
        if p.is_file() and not _is_litter(rel):
            files.append((rel, p))
    limits.check("members", len(files), file=file)
    total = 0
    for rel, p in files:
        size = p.stat().st_size
        limits.check("member_bytes", size, file=f"{file}: {rel!r}")
        total += size
    limits.check("uncompressed_bytes", total, file=file)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        for rel, p in files:
            info = zipfile.ZipInfo(rel, date_time=_FIXED_TIME)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            zf.writestr(info, p.read_bytes())
    return [rel for rel, _ in files]


