"""The license on its path, typed: a judged row, then a sealed license version.

::

    file ──read──▶ cells ──judge──▶ JudgedRow ──seal──▶ SealedLicense ──store──▶ licenses
                                        └─────────────▶ RowResult ─────store──▶ source_rows

Both are NamedTuples, not dataclasses: a chunk makes one per row, and a tuple in column
order is what the bulk insert takes (a frozen dataclass costs several times as much to
build). Every field is typed and documented; nothing on the path is a ``dict[str, Any]``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["JudgedRow", "Reason", "RowResult", "SealedLicense"]

Reason = Mapping[str, Any]
"""``{"code": REASON_CODE, "element": element code or None, "message": text}``."""


class JudgedRow(NamedTuple):
    """One row of a department file after the rules (:func:`registry.ingest.rules.judged`)."""

    line: int
    """The line (or sheet row, or archive member) the row came from; the header is line 1."""
    outcome: str
    """accepted / filtered / rejected."""
    reasons: tuple[Reason, ...]
    """Why it was filtered or rejected, and any flags (a known-legitimate code …)."""
    raw: dict[str, str]
    """The original cells, header → text, exactly as read."""
    number: str | None
    """The normalized 证照编号 (None when empty): duplicates are found by it."""
    elements: Mapping[str, str] | None
    """For an accepted row, its normalized elements by code (dates ``yyyyMMdd``, ``长期``
    for no end) and ``CZZTDMLXDM``; None for the others, which are never sealed."""

    @classmethod
    def accepted(cls, line: int, elements: Mapping[str, str]) -> JudgedRow:
        """A row known good (issued without a file, or synthetic): its elements, no reasons."""
        return cls(line, "accepted", (), {}, elements.get("ZZBH") or None, elements)


class SealedLicense(NamedTuple):
    """A sealed license version as the ``licenses`` table stores it, field by field in
    column order (``registry.license.issue.LICENSE_COLUMNS``)."""

    identifier: str
    """ZZBS, the GB/T 36904 identifier of this version."""
    type_code: str
    department_id: int
    number: str
    """ZZBH, the 证照编号."""
    holder_code: str
    """CZZTDM."""
    version: str
    """``001`` for the first issue."""
    predecessor: str | None
    """The identifier of the version this one replaces."""
    status: str
    """VALID when sealed."""
    valid_to: str
    """ZZYXQJZRQ (``yyyyMMdd`` or 长期)."""
    record: bytes
    """The exact signed bytes: RFC 8785 JSON of the elements."""
    data_hash: bytes
    """SHA-256 of ``record``: the SES_Signature's dataHash."""
    seal_id: int
    template_id: int
    signed_at: dt.datetime
    """TBS_Sign.timeInfo (whole seconds)."""
    signature: bytes
    """The signer's signature over DER(TBS_Sign)."""
    batch_id: int | None
    created_at: dt.datetime


class RowResult(NamedTuple):
    """What became of one row, as ``source_rows`` records it."""

    line: int
    outcome: str
    """accepted / filtered / rejected."""
    reasons: tuple[Reason, ...]
    identifier: str | None
    """The license the row became, or is identical to (None unless accepted)."""
