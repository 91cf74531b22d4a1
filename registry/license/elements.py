"""Structure: an accepted row becomes a license's GB/T 36903 elements and GB/T 36904 identifier.

>>> serial_for("11100000MB0143028R001", "330100000012345")
'BC7491BEA651D378ACE9'

Pure functions over plain dicts: no database, no keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from registry.license.codes import HOLDER_TYPE_NAMES, license_identifier
from registry.license.types import LicenseType

__all__ = ["Issuer", "build_elements", "next_version", "serial_for", "with_identifier"]

IDENTITY_FREE = ("ZZBS",)
"""Elements that differ between versions of the same license by construction."""


@dataclass(frozen=True)
class Issuer:
    """The issuing department as it appears in a license."""

    name: str
    """证照颁发机构 (ZZBFJG)."""
    uscc: str
    """证照颁发机构代码 (ZZBFJGDM), also the issuer part of the identifier."""


def serial_for(type_code: str, number: str) -> str:
    """The identifier's 流水号: 20 uppercase hex characters of SHA-256(type code, 证照编号).

    Deterministic, so the same license number of the same type always maps to the same serial
    and a re-issue differs only in its version (STANDARDS.md §1.2 lets the issuer choose).
    """
    digest = hashlib.sha256(f"{type_code}\x1f{number}".encode()).hexdigest()
    return digest[:20].upper()


def next_version(version: str) -> str:
    """``001`` → ``002``."""
    return f"{int(version) + 1:03d}"


def build_elements(row: Mapping[str, Any], lt: LicenseType, issuer: Issuer) -> dict[str, str]:
    """The license's elements (without ZZBS) from a normalized, accepted row.

    ``row`` holds element codes → normalized strings (dates as yyyyMMdd) and ``CZZTDMLXDM``.
    Empty optional elements are left out; derived elements come from the type and the issuer.
    """
    holder_type = str(row["CZZTDMLXDM"])
    elements: dict[str, str] = {
        "ZZMC": str(row.get("ZZMC") or lt.name),
        "ZZLXDM": lt.code,
        "ZZBFJG": issuer.name,
        "ZZBFJGDM": issuer.uscc,
        "CZZTDMLX": HOLDER_TYPE_NAMES[holder_type],
        "CZZTDMLXDM": holder_type,
    }
    for e in lt.elements:
        if e.derived or e.code == "ZZMC":
            continue
        value = row.get(e.code)
        if value is not None and value != "":
            elements[e.code] = str(value)
    return elements


def with_identifier(elements: Mapping[str, str], version: str = "001") -> dict[str, str]:
    """``elements`` plus ZZBS for ``version``."""
    identifier = license_identifier(
        elements["ZZLXDM"],
        elements["ZZBFJGDM"],
        serial_for(elements["ZZLXDM"], elements["ZZBH"]),
        version,
    )
    return {**elements, "ZZBS": identifier}
