"""Column mappings: a department's own column names → element codes, from a checked file.

A department's export names its columns as its own system does (企业名称, 发照日期 …). A
mapping file, validated against ``schemas/mapping.schema.json``, says which element each of
those is, and how to read the export (sheet, header row). Columns already named by an element
code (``CZZTDM``) or its Chinese title (持证主体代码) need no entry. A mapping is checked
against the batch's license type when it is loaded: every target must be an element the
department supplies (not one the registry derives), and no two columns may give the same one.

>>> from registry.license.types import catalogue
>>> m = load_mapping(Path("fixtures/mappings/market-bureau-xlsx.json"),
...                  license_type=catalogue()["11100000MB0143028R001"])
>>> m.columns["统一社会信用代码"], m.header_row
('CZZTDM', 3)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from registry.config import SCHEMA_DIR
from registry.errors import MappingError
from registry.i18n import _
from registry.ingest.frames import ReadOptions
from registry.ingest.normalize import normalize_code
from registry.license.types import LicenseType

__all__ = [
    "MAPPING_SCHEMA",
    "ColumnMapping",
    "load_mapping",
    "parse_mapping",
    "read_options",
]

MAPPING_SCHEMA = SCHEMA_DIR / "mapping.schema.json"
_CLASSIFIED = "SFSM"


@dataclass(frozen=True)
class ColumnMapping:
    """A checked mapping."""

    columns: dict[str, str]
    """Department column name → element code (or ``SFSM``), as written in the file."""
    ignore: tuple[str, ...] = ()
    """Columns kept in the raw rows but not reported as unknown."""
    type_code: str | None = None
    """The license type the mapping declares, if any."""
    sheet: str | None = None
    header_row: int | None = None
    source: str = field(default="", compare=False)
    """Where it was loaded from (for messages)."""


@cache
def _validator() -> Any:

    schema = json.loads(MAPPING_SCHEMA.read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def parse_mapping(doc: Any, *, license_type: LicenseType,
                  source: str = "mapping") -> ColumnMapping:
    """Check ``doc`` (parsed JSON) against the schema and the license type."""
    lt, type_code = license_type, license_type.code
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
                 for e in errors]
        raise MappingError(_("not a valid mapping (schemas/mapping.schema.json): {problems}",
                             problems="; ".join(lines)), file=source)
    declared = doc.get("type")
    if declared is not None and declared != type_code:
        raise MappingError(_("the mapping is for license type {declared}, the batch is "
                             "{type_code}", declared=declared, type_code=type_code), file=source)
    allowed = {e.code for e in lt.elements if not e.derived} | {_CLASSIFIED}
    derived = {e.code for e in lt.elements if e.derived}
    problems: list[str] = []
    given: dict[str, str] = {}
    for column, code in doc["columns"].items():
        if code in derived:
            problems.append(_("columns/{column}: {code} is filled in by the registry, not read "
                              "from a file", column=column, code=code))
        elif code not in allowed:
            problems.append(_("columns/{column}: {code} is not an element of {type_name} "
                              "({type_code})", column=column, code=code, type_name=lt.name,
                              type_code=type_code))
        elif code in given.values():
            other = next(c for c, v in given.items() if v == code)
            problems.append(_("columns/{column}: {code} is already given by {other!r}",
                              column=column, code=code, other=other))
        key = normalize_code(column)
        if key in {normalize_code(c) for c in given}:
            problems.append(_("columns/{column}: the same column is mapped twice", column=column))
        given[column] = code
    if problems:
        raise MappingError("; ".join(problems), file=source)
    return ColumnMapping(columns=dict(doc["columns"]), ignore=tuple(doc.get("ignore", ())),
                         type_code=declared, sheet=doc.get("sheet"),
                         header_row=doc.get("header_row"), source=source)


def load_mapping(path: Path, *, license_type: LicenseType) -> ColumnMapping:
    """Read and check a mapping file (raises :class:`MappingError` naming it)."""
    try:
        doc = json.loads(Path(path).read_text("utf-8-sig"))
    except FileNotFoundError as exc:
        raise MappingError(_("no such mapping file"), file=str(path)) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise MappingError(_("not JSON ({error})", error=exc), file=str(path)) from exc
    return parse_mapping(doc, license_type=license_type, source=str(path))


def read_options(license_type: LicenseType, *, mapping_file: Path | None = None,
                 sheet: str | None = None, header_row: int | None = None) -> ReadOptions:
    """How to read a department's file of ``license_type``: the sheet and header row asked
    for, else those its mapping file names, with the mapping's columns."""
    mapping = load_mapping(mapping_file, license_type=license_type) if mapping_file else None
    return ReadOptions(
        sheet=sheet if sheet is not None else (mapping.sheet if mapping else None),
        header_row=header_row or (mapping.header_row if mapping and mapping.header_row else 1),
        mapping=mapping.columns if mapping else {}, ignore=mapping.ignore if mapping else (),
        license_type=license_type)
