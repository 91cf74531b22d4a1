"""Limits on what a department upload may be: size, rows, cells, archive members.

A clerk's upload is untrusted input. Every reader checks the same :class:`Limits` and refuses
with a :class:`LimitError` that names the file, the limit, the value found and how to change
it; nothing is read past a limit.

>>> limits = Limits(max_rows=10)
>>> try:
...     limits.check("rows", 11, file="b.csv")
... except LimitError as exc:
...     print(exc)
b.csv: more than 10 rows (11); split the file or raise Limits.max_rows
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from registry.errors import LimitError
from registry.i18n import N_, _

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
]


@dataclass(frozen=True)
class Limits:
    """What one upload may hold. The defaults fit the largest real department exports."""

    max_file_bytes: int = 4 << 30
    """Size of the uploaded file (a table, a PDF or an archive) in bytes."""
    max_rows: int = 5_000_000
    """Data rows of one file (the benchmark's 1,000,000-row CSV is well inside)."""
    max_columns: int = 1_000
    """Columns of a header."""
    max_cell_chars: int = 32_767
    """Characters in one cell (Excel's own limit); a longer cell rejects its row."""
    max_field_chars: int = 1 << 20
    """Characters in one CSV field beyond which the file is refused as malformed (a quote that
    never closes swallows the rest of the file into one field). The csv module's limit is
    process-wide: it is raised to this when lower, never lowered."""
    max_item_chars: int = 64 << 20
    """Characters of one JSON array item (past it the file is refused as malformed) or one
    JSON Lines line (past it the line is rejected, and read no further)."""
    max_json_depth: int = 20
    """Levels a JSON value may nest (a row is an object of scalars: 1); deeper is refused."""
    max_number_chars: int = 100
    """Characters of one JSON number; a longer one rejects its row (never converted)."""
    max_members: int = 10_000
    """Members of an archive (a .zip, a folder or an .xlsx package)."""
    max_member_bytes: int = 256 << 20
    """Uncompressed size of one archive member."""
    max_uncompressed_bytes: int = 8 << 30
    """Total uncompressed size of an archive's members."""
    max_ratio: int = 200
    """Uncompressed/compressed size of one member; zip bombs compress 1,000:1 and more,
    real XML and PDF content stays well under 100:1."""

    def check(self, what: str, value: int, *, file: str) -> None:
        """Raise :class:`LimitError` when ``value`` exceeds the limit named by ``what``."""
        unit, field = _LIMITS[what]
        allowed = int(getattr(self, field))
        if value > allowed:
            raise LimitError(
                _("more than {allowed} {unit} ({value}); split the file or raise "
                  "Limits.{field}", allowed=allowed, unit=_(unit), value=value, field=field),
                file=file, limit=field, value=value)

    def replace(self, **changes: int) -> Limits:
        """A copy with some limits changed."""
        return dataclasses.replace(self, **changes)


_LIMITS = {
    "file_bytes": (N_("bytes"), "max_file_bytes"),
    "rows": (N_("rows"), "max_rows"),
    "columns": (N_("columns"), "max_columns"),
    "cell_chars": (N_("characters in one cell"), "max_cell_chars"),
    "members": (N_("archive members"), "max_members"),
    "member_bytes": (N_("bytes uncompressed in one member"), "max_member_bytes"),
    "uncompressed_bytes": (N_("bytes uncompressed in all members"), "max_uncompressed_bytes"),
    "ratio": (N_("times compression (a zip bomb?)"), "max_ratio"),
}

DEFAULT_LIMITS = Limits()
"""The limits used when none are given."""


