"""License types: one JSON Schema per type in ``schemas/license-types/``.

Each schema names its 21-character type code (``x-type-code``), its defining authority, the
holder-code types it admits, and its face fields (``KZ_*``); the GB/T 36903 base elements come
from ``schemas/base-elements.json`` through ``allOf``/``$ref``. Element titles are the Chinese
names a department's CSV header may use instead of the codes.

>>> t = load_license_types()["11100000MB0143028R001"]
>>> t.name, [f.title for f in t.face_fields][:2]
('营业执照', ['类型', '法定代表人'])
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from registry.config import SCHEMA_DIR
from registry.errors import ConfigError

__all__ = ["BASE_ELEMENTS", "Element", "LicenseType", "load_license_types"]


@dataclass(frozen=True)
class Element:
    """One element (base or face field) of a license type."""

    code: str
    """Element code, e.g. ``ZZBH`` or ``KZ_FDDBR``."""
    title: str
    """Chinese name, e.g. 证照编号."""
    is_date: bool
    """Written ``yyyyMMdd`` on the wire."""
    required: bool
    derived: bool
    """Filled in by the registry (identifier, issuer …), never read from a department file."""


@dataclass(frozen=True)
class LicenseType:
    """A license type as its schema declares it."""

    code: str
    """证照类型代码 (21 characters)."""
    name: str
    """证照名称, e.g. 营业执照."""
    authority_name: str
    authority_code: str
    holder_types: tuple[str, ...]
    """持证主体代码类型代码 values admitted (001 USCC, 111 ID number)."""
    elements: tuple[Element, ...]
    """Base elements then face fields, in schema order."""
    schema: dict[str, Any]
    """The schema document itself."""

    @property
    def face_fields(self) -> tuple[Element, ...]:
        return tuple(e for e in self.elements if e.code.startswith("KZ_"))

    def element(self, code: str) -> Element:
        for e in self.elements:
            if e.code == code:
                return e
        raise KeyError(code)


def _elements(doc: dict[str, Any]) -> list[Element]:
    required = set(doc.get("required", ()))
    return [
        Element(
            code=code,
            title=spec["title"],
            is_date=spec.get("format") == "yyyyMMdd",
            required=code in required,
            derived=bool(spec.get("x-derived")),
        )
        for code, spec in doc["properties"].items()
    ]


@cache
def base_schema() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((SCHEMA_DIR / "base-elements.json").read_text("utf-8"))
    return doc


BASE_ELEMENTS: tuple[Element, ...] = tuple(_elements(base_schema()))


@cache
def load_license_types(schema_dir: Path = SCHEMA_DIR) -> dict[str, LicenseType]:
    """Every license type in ``schema_dir/license-types``, keyed by type code."""
    types: dict[str, LicenseType] = {}
    for path in sorted((schema_dir / "license-types").glob("*.json")):
        try:
            doc = json.loads(path.read_text("utf-8"))
            code = doc["x-type-code"]
            lt = LicenseType(
                code=code,
                name=doc["title"],
                authority_name=doc["x-defining-authority"]["name"],
                authority_code=doc["x-defining-authority"]["code"],
                holder_types=tuple(doc["x-holder-types"]),
                elements=(*BASE_ELEMENTS, *_elements(doc)),
                schema=doc,
            )
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"{path}: not a license-type schema ({exc})") from exc
        if path.stem != code or len(code) != 21 or not code.startswith(lt.authority_code):
            raise ConfigError(f"{path}: type code {code!r} must be the file name and start "
                              f"with the defining authority's USCC")
        types[code] = lt
    return types
