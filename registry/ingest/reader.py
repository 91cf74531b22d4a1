"""Reading a department file: its suffix picks the reader, every reader yields the same chunks.

The chunks' contract (text cells, ``LINE``, ``EXTRA``, ``PROBLEMS``, progress) is
:mod:`registry.ingest.frames`; each format has a module of its own, listed in
:data:`READERS`.

>>> from pathlib import Path
>>> chunk = next(read_rows(Path("fixtures/batches/business-licenses.csv"), chunk_rows=10))
>>> chunk.loc[0, "持证主体代码"], int(chunk.loc[0, "LINE"])
('91330102MAT9HT456F', 2)
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from registry.errors import IngestError
from registry.i18n import N_, _
from registry.ingest.archive import read_archive
from registry.ingest.delimited import read_delimited
from registry.ingest.frames import Reader, ReadOptions
from registry.ingest.jsonl import read_json, read_jsonl
from registry.ingest.pdf import read_pdf_file
from registry.ingest.xlsx import read_xlsx

__all__ = [
    "READERS", "TEXT_SUFFIXES", "not_a_table", "read_rows", "refuse_unsupported", "sniff_kind",
]

READERS: dict[str, Reader] = {
    ".csv": read_delimited,
    ".tsv": read_delimited,
    ".txt": read_delimited,
    ".xlsx": read_xlsx,
    ".json": read_json,
    ".jsonl": read_jsonl,
    ".ndjson": read_jsonl,
    ".pdf": read_pdf_file,
    ".zip": read_archive,
}
"""File suffix → reader."""


TEXT_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".json", ".jsonl", ".ndjson"})
"""Suffixes of text formats: a file named so whose bytes are a known binary kind is refused as
what it is (the binary formats' own readers check their bytes)."""

_OLE = N_("an Excel 97-2003 (.xls) or Word (.doc) file")
_MAGIC: tuple[tuple[bytes, str, str | None], ...] = (
    (b"%PDF-", N_("a PDF document"), ".pdf"),
    (b"PK\x03\x04", N_("a zip archive"), ".zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", _OLE, None),
    (b"\x89PNG", N_("a PNG image"), None),
    (b"\xff\xd8\xff", N_("a JPEG image"), None),
    (b"GIF8", N_("a GIF image"), None),
    (b"{\\rtf", N_("an RTF document"), None),
    (b"\x1f\x8b", N_("a gzip archive"), None),
    (b"Rar!", N_("a RAR archive"), None),
    (b"7z\xbc\xaf", N_("a 7-Zip archive"), None),
)
"""Leading bytes → (what the file is, the suffix to give it when it is a supported format)."""
_TABLE_LOOK = 1 << 16
"""Bytes of a .txt looked at for a separator (tab, comma or semicolon) before calling it prose."""


def sniff_kind(path: Path) -> tuple[str, str | None] | None:
    """(what the file's bytes say it is, the supported suffix it should have) for a known
    binary kind, else None. A zip package holding ``xl/workbook.xml`` is an .xlsx workbook; one
    holding a Word document or a PowerPoint presentation is one, not a zip to rename."""
    with path.open("rb") as f:
        head = f.read(8)
    kind = next(((what, suffix) for magic, what, suffix in _MAGIC if head.startswith(magic)),
                None)
    if kind is not None and kind[1] == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
            if "xl/workbook.xml" in names:
                return N_("an Excel workbook"), ".xlsx"
            if "word/document.xml" in names:
                return N_("a Word document"), None
            if "ppt/presentation.xml" in names:
                return N_("a PowerPoint presentation"), None
        except (zipfile.BadZipFile, OSError):
            pass
    return kind


def refuse_unsupported(path: Path, suffix: str) -> None:
    """Raise the unsupported-file-type error, saying what the file is and what to do, when
    neither ``path``'s suffix nor its bytes are a format :data:`READERS` reads as named. The
    bytes of .xlsx, .pdf and .zip files are left to their readers."""
    known = ", ".join(sorted(READERS))
    sniffed = path.is_file() and (suffix in TEXT_SUFFIXES or suffix not in READERS)
    kind = sniff_kind(path) if sniffed else None
    if kind is not None and kind[1] != suffix:
        what, fix = kind
        advice = (_("rename it to {suffix} and upload it again", suffix=fix) if fix else
                  _("open it in Excel and save it as .xlsx or 'CSV UTF-8'") if what == _OLE
                  else _("export the licenses as a table (.xlsx or 'CSV UTF-8') or as PDFs"))
        raise IngestError(_("unsupported file type {suffix}: the file is {what}; {advice}; "
                            "supported: {known}", suffix=suffix or _("(no suffix)"),
                            what=_(what), advice=advice, known=known), file=str(path))
    if suffix not in READERS:
        raise IngestError(_("unsupported file type {suffix}; supported: {known}",
                            suffix=suffix or _("(no suffix)"), known=known), file=str(path))
    if suffix == ".txt" and sniffed:
        with path.open("rb") as f:
            head = f.read(_TABLE_LOOK)
        # ASCII separators are never part of a multi-byte GBK or UTF-8 character.
        if not any(sep in head for sep in (b"\t", b",", b";")):
            raise not_a_table(str(path))


def not_a_table(file: str) -> IngestError:
    """The error for a .txt that is prose, not a table (none of its bytes a separator, or no
    column of its header naming an element)."""
    return IngestError(_("unsupported file type .txt: the file is plain text, not a table of "
                         "licenses; save the licenses as 'Text (Tab delimited)', 'CSV UTF-8' or "
                         ".xlsx; supported: {known}", known=", ".join(sorted(READERS))),
                       file=file)


def read_rows(path: Path, *, chunk_rows: int = 50_000,
              options: ReadOptions | None = None) -> Iterator[pd.DataFrame]:
    """Stream ``path`` as DataFrames of at most ``chunk_rows`` rows (see the module docstring).

    The format is chosen by the file's suffix; an unsupported suffix, a text suffix on a
    binary file (a PDF named .csv, an .xls) or a .txt that is not a table raises
    :class:`~registry.errors.IngestError` naming the file, what it is and what to do.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    options = options or ReadOptions()
    if options.header_row < 1:
        raise ValueError(f"header_row must be at least 1, got {options.header_row}")
    path = Path(path)
    suffix = path.suffix.lower()
    refuse_unsupported(path, suffix)
    return READERS[suffix](path, chunk_rows, options)
