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

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from registry.errors import IngestError
from registry.i18n import _
from registry.ingest.archive import read_archive
from registry.ingest.delimited import read_delimited
from registry.ingest.frames import Reader, ReadOptions
from registry.ingest.jsonl import read_json, read_jsonl
from registry.ingest.pdf import read_pdf_file
from registry.ingest.xlsx import read_xlsx

__all__ = ["READERS", "read_rows"]

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


def read_rows(path: Path, *, chunk_rows: int = 50_000,
              options: ReadOptions | None = None) -> Iterator[pd.DataFrame]:
    """Stream ``path`` as DataFrames of at most ``chunk_rows`` rows (see the module docstring).

    The format is chosen by the file's suffix; an unsupported suffix raises
    :class:`~registry.errors.IngestError` naming the file.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    options = options or ReadOptions()
    if options.header_row < 1:
        raise ValueError(f"header_row must be at least 1, got {options.header_row}")
    path = Path(path)
    read = READERS.get(path.suffix.lower())
    if read is None:
        known = ", ".join(sorted(READERS))
        raise IngestError(
            _("unsupported file type {suffix!r}; accepted: {known}",
              suffix=path.suffix or _("(no suffix)"), known=known),
            file=str(path),
        )
    return read(path, chunk_rows, options)
