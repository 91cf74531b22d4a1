"""The table recording each license's PDF rendition (kept apart so Alembic imports no renderer).

One row per license version: the SHA-256 of the signed PDF and where it is stored, relative to
``Settings.files`` (``pdf/<sha256[:2]>/<sha256>.pdf``), written in the same transaction that
finishes a chunk of renditions.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from registry.db.models import Base

__all__ = ["PdfRendition"]


class PdfRendition(Base):
    """A license's signed PDF rendition (版式文件)."""

    __tablename__ = "pdf_renditions"
    license_id: Mapped[int] = mapped_column(ForeignKey("licenses.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the PDF file, hex."""
    path: Mapped[str] = mapped_column(String(300))
    """Where the file is, relative to ``Settings.files`` (content-addressed)."""
    size: Mapped[int] = mapped_column(Integer)
    """File size in bytes."""
    level: Mapped[str] = mapped_column(String(8))
    """PAdES baseline level of its signature: B-B, or B-T with a timestamp."""
    missing_glyphs: Mapped[str | None] = mapped_column(Text)
    """Characters no font had (drawn as .notdef); None for a faithful rendition."""
    rendered_at: Mapped[dt.datetime]
    """When it was rendered and signed (the signature's /M)."""
