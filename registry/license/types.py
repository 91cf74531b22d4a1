"""License types: what a type of license holds, how its rows are judged, how it is laid out.

A license type is one JSON document (a JSON Schema with ``x-`` keys), the same whether it comes
from a province's catalogue or a city's own file:

- ``x-type-code`` — the 21-character 证照类型代码: the defining authority's USCC (GB 32100, its
  check character right) and a three-digit number; ``title`` — the type's name (证照名称);
- ``x-defining-authority`` — ``{"name", "code"}``; ``x-issuing-level`` — 国家 / 省 / 市 / 县;
- ``x-holder-types`` — the 持证主体代码类型代码 admitted (001 USCC, 111 ID number);
- ``properties`` / ``required`` — the face fields (``KZ_*``) with their Chinese titles, on top of
  the GB/T 36903 base elements of ``schemas/base-elements.json`` (``allOf``);
- ``x-validity`` — ``{"open_ended": true, "max_years": null, "start_may_precede_issue":
  false}``: whether 长期 is admitted, the longest validity, whether the validity may start
  before the issue date (a 营业执照's runs from 成立日期);
- ``x-pdf-text`` — patterns finding each element in the text of a stock PDF; named groups are
  element codes (default: ``<title>：<value>`` on a line of its own);
- ``x-layout`` — the default page layout (``schemas/template-layout.schema.json``), or none.

People write a type as an *entry* (a city file, a catalogue: :func:`document_of`, and back
:func:`entry_of`); a registry keeps the documents of the types it issues in its own database
(:func:`registered_types`, :func:`license_type`), so a city's types need no files beside the
code. :func:`catalogue` reads the example catalogue shipped in ``schemas/catalogue/``.

>>> t = catalogue()["11100000MB0143028R001"]
>>> t.name, [f.title for f in t.face_fields][:2], t.rules.start_may_precede_issue
('营业执照', ['类型', '法定代表人'], True)
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.config import SCHEMA_DIR
from registry.db.models import LicenseTypeRow
from registry.errors import ConfigError, LicenseTypeNotFound
from registry.i18n import _, os_reason
from registry.license.codes import uscc_is_valid

__all__ = [
    "BASE_ELEMENTS",
    "CATALOGUE",
    "CSV_COLUMNS",
    "ISSUING_LEVELS",
    "Element",
    "LicenseType",
    "TypeRules",
    "base_schema",
    "catalogue",
    "document_of",
    "document_sha256",
    "entry_of",
    "license_type",
    "parse_type",
    "read_catalogue",
    "registered_types",
]

ISSUING_LEVELS = ("国家", "省", "市", "县")
"""The administrative level that issues a type (证照颁发机构级别)."""


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
class TypeRules:
    """How the rows of one type are judged beyond its schema (``x-validity``, ``x-pdf-text``)."""

    start_may_precede_issue: bool = False
    """True when 有效期起始日期 may be earlier than 颁证日期 (营业执照: 营业期限 runs from 成立日期,
    and a re-issued licence keeps it); 成立日期 ≤ 颁证日期 is checked instead."""
    open_ended: bool = True
    """Whether 长期 (no end date) is admitted."""
    max_years: int | None = None
    """The longest validity in years; None: no limit."""
    pdf_text: tuple[re.Pattern[str], ...] = ()
    """Patterns over a stock PDF's text; named groups are element codes."""


@dataclass(frozen=True)
class LicenseType:
    """A license type as its document declares it."""

    code: str
    """证照类型代码 (21 characters)."""
    name: str
    """证照名称, e.g. 营业执照."""
    authority_name: str
    authority_code: str
    holder_types: tuple[str, ...]
    """持证主体代码类型代码 values admitted (001 USCC, 111 ID number)."""
    elements: tuple[Element, ...]
    """Base elements then face fields, in document order."""
    schema: dict[str, Any]
    """The document itself."""
    level: str | None
    """The issuing level (国家 / 省 / 市 / 县), when the document says."""
    rules: TypeRules
    layout: dict[str, Any] | None
    """The default page layout, or None (a plain page is generated)."""

    @property
    def face_fields(self) -> tuple[Element, ...]:
        return tuple(e for e in self.elements if e.code.startswith("KZ_"))

    @property
    def sha256(self) -> str:
        """SHA-256 of the canonically serialized document (templates pin it)."""
        return document_sha256(self.schema)

    def element(self, code: str) -> Element:
        for e in self.elements:
            if e.code == code:
                return e
        raise KeyError(code)


def document_sha256(doc: Mapping[str, Any]) -> str:
    """SHA-256 of a type document, canonically serialized."""
    data = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()


def _elements(doc: Mapping[str, Any]) -> list[Element]:
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


def _default_patterns(elements: tuple[Element, ...]) -> list[str]:
    return [rf"(?m)^\s*{re.escape(e.title)}\s*[:：]\s*(?P<{e.code}>.+?)\s*$"
            for e in elements if not e.derived]


def _rules(doc: Mapping[str, Any], elements: tuple[Element, ...], where: str) -> TypeRules:
    validity = doc.get("x-validity") or {}
    sources = list((doc.get("x-pdf-text") or {}).get("patterns", ())) \
        or _default_patterns(elements)
    codes = {e.code for e in elements}
    patterns = []
    for source in sources:
        try:
            pattern = re.compile(source)
        except re.error as exc:
            raise ConfigError(_("{where}: bad x-pdf-text pattern {pattern!r} ({why})", where=where,
                                pattern=source, why=exc)) from exc
        unknown = set(pattern.groupindex) - codes
        if unknown:
            raise ConfigError(_("{where}: pattern {pattern!r} names no element of the type: "
                                "{codes}", where=where, pattern=source,
                                codes=", ".join(sorted(unknown))))
        patterns.append(pattern)
    max_years = validity.get("max_years")
    if max_years is not None and (not isinstance(max_years, int) or max_years < 1):
        raise ConfigError(_("{where}: validity max_years must be a whole number of years",
                            where=where))
    return TypeRules(start_may_precede_issue=bool(validity.get("start_may_precede_issue", False)),
                     open_ended=bool(validity.get("open_ended", True)), max_years=max_years,
                     pdf_text=tuple(patterns))


def parse_type(doc: Mapping[str, Any], *, where: str = "license type") -> LicenseType:
    """A :class:`LicenseType` from its document; ConfigError naming ``where`` and the key."""
    try:
        code = str(doc["x-type-code"])
        authority = doc["x-defining-authority"]
        elements = (*BASE_ELEMENTS, *_elements(doc))
        lt = LicenseType(
            code=code, name=str(doc["title"]), authority_name=str(authority["name"]),
            authority_code=str(authority["code"]), holder_types=tuple(doc["x-holder-types"]),
            elements=elements, schema=dict(doc), level=doc.get("x-issuing-level"),
            rules=_rules(doc, elements, where), layout=doc.get("x-layout"))
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(_("{where}: not a license-type document (missing or bad {key})",
                            where=where, key=exc)) from exc
    if not re.fullmatch(r"[0-9A-Z]{18}\d{3}", code) or not code.startswith(lt.authority_code):
        raise ConfigError(_("{where}: type code {code!r} must be the defining authority's USCC "
                            "followed by three digits", where=where, code=code))
    if not uscc_is_valid(lt.authority_code):
        raise ConfigError(_("{where}: the defining authority's USCC {uscc} fails its GB 32100 "
                            "check character", where=where, uscc=lt.authority_code))
    if lt.level is not None and lt.level not in ISSUING_LEVELS:
        raise ConfigError(_("{where}: issuing level {level!r} is not one of {levels}",
                            where=where, level=lt.level, levels="、".join(ISSUING_LEVELS)))
    unknown = [t for t in lt.holder_types if t not in ("001", "111")]
    if unknown or not lt.holder_types:
        raise ConfigError(_("{where}: holder types must be 001 (USCC) and/or 111 (ID number)",
                            where=where))
    return lt


# -- type entries: how people write a type (city files, catalogues, exports) -----------------


def document_of(entry: Mapping[str, Any], *, where: str,
                base: Path | None = None) -> dict[str, Any]:
    """The type document of an entry as a city file or a catalogue writes it::

        code, name, authority = {name, code}, level, holder_types, source,
        validity = {open_ended, max_years, start_may_precede_issue},
        fields = [{code, title, required = true, date = false, choices, max_length}],
        pdf_text = [patterns], layout = "file.json" (relative to ``base``) or a table

    ConfigError naming ``where`` and what is wrong.
    """
    try:
        fields = list(entry.get("fields") or ())
        properties: dict[str, Any] = {}
        required: list[str] = []
        base_codes = {e.code for e in BASE_ELEMENTS}
        for i, f in enumerate(fields):
            code, title = str(f["code"]), str(f["title"])
            if not re.fullmatch(r"KZ_[0-9A-Z_]{1,30}", code) or code in base_codes:
                raise ConfigError(_("{where}: fields[{i}] code {code!r} must be KZ_ and capitals "
                                    "(a face field; the base elements are given)",
                                    where=where, i=i, code=code))
            if code in properties:
                raise ConfigError(_("{where}: fields[{i}] {code} is listed twice", where=where,
                                    i=i, code=code))
            spec: dict[str, Any] = {"title": title, "type": "string"}
            is_required = bool(f.get("required", True))
            if f.get("date"):
                spec |= {"pattern": r"^\d{8}$", "format": "yyyyMMdd"}
            elif f.get("choices"):
                spec["enum"] = [str(c) for c in f["choices"]]
            elif is_required:
                spec["minLength"] = 1
            if f.get("max_length") is not None:
                spec["maxLength"] = int(f["max_length"])
            properties[code] = spec
            if is_required:
                required.append(code)
        doc: dict[str, Any] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"urn:licreg:license-type:{entry['code']}",
            "title": str(entry["name"]),
            "x-type-code": str(entry["code"]),
            "x-defining-authority": {"name": str(entry["authority"]["name"]),
                                     "code": str(entry["authority"]["code"])},
            "x-holder-types": [str(t) for t in entry.get("holder_types") or ("001",)],
            "allOf": [{"$ref": "urn:licreg:schema:base-elements"}],
            "required": required,
            "properties": properties,
            "unevaluatedProperties": False,
        }
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(_("{where}: not a license type (missing or bad {key})", where=where,
                            key=exc)) from exc
    for key, name in (("source", "description"), ("level", "x-issuing-level"),
                      ("validity", "x-validity")):
        if entry.get(key) is not None:
            doc[name] = entry[key]
    if entry.get("pdf_text"):
        doc["x-pdf-text"] = {"patterns": list(entry["pdf_text"])}
    layout = entry.get("layout")
    if isinstance(layout, str):
        path = (base or Path.cwd()) / layout
        try:
            doc["x-layout"] = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(_("{where}: cannot read the layout {file}: {why}", where=where,
                                file=path, why=exc)) from exc
    elif isinstance(layout, Mapping):
        doc["x-layout"] = dict(layout)
    return doc


def entry_of(lt: LicenseType) -> dict[str, Any]:
    """The entry a city file writes for ``lt`` (:func:`document_of` of it gives its document
    back)."""
    doc = lt.schema
    fields = []
    for e in lt.face_fields:
        spec = doc["properties"][e.code]
        f: dict[str, Any] = {"code": e.code, "title": e.title}
        if not e.required:
            f["required"] = False
        if e.is_date:
            f["date"] = True
        if "enum" in spec:
            f["choices"] = list(spec["enum"])
        if "maxLength" in spec:
            f["max_length"] = spec["maxLength"]
        fields.append(f)
    entry: dict[str, Any] = {"code": lt.code, "name": lt.name,
                             "authority": {"name": lt.authority_name, "code": lt.authority_code},
                             "holder_types": list(lt.holder_types)}
    for name, key in (("description", "source"), ("x-issuing-level", "level"),
                      ("x-validity", "validity")):
        if doc.get(name) is not None:
            entry[key] = doc[name]
    entry["fields"] = fields
    if doc.get("x-pdf-text"):
        entry["pdf_text"] = list(doc["x-pdf-text"]["patterns"])
    if doc.get("x-layout") is not None:
        entry["layout"] = doc["x-layout"]
    return entry


CATALOGUE = SCHEMA_DIR / "catalogue" / "common-types.json"
"""The example catalogue shipped with licreg (``licreg type import`` takes others)."""
CSV_COLUMNS = ("type_code", "type_name", "authority_name", "authority_code", "level",
               "holder_types", "field_code", "field_title", "required", "date")
"""A CSV catalogue: one row per face field (the type's columns repeat on each)."""


def read_catalogue(path: Path) -> dict[str, LicenseType]:
    """The types of a catalogue file: JSON (``{"types": [entries]}``) or CSV (one row per face
    field, :data:`CSV_COLUMNS`)."""
    try:
        text = path.read_text("utf-8-sig")
    except OSError as exc:
        raise ConfigError(_("{file}: cannot read the catalogue: {why}", file=path,
                            why=os_reason(exc))) from exc
    if path.suffix.lower() == ".csv":
        entries = _csv_entries(text, path)
    else:
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ConfigError(_("{file}: not JSON ({why})", file=path, why=exc)) from exc
        listed = doc.get("types") if isinstance(doc, dict) else None
        if not isinstance(listed, list):
            raise ConfigError(_("{file}: a catalogue is {shape}", file=path,
                                shape='{"types": [ ... ]}'))
        entries = listed
    types: dict[str, LicenseType] = {}
    for i, entry in enumerate(entries):
        where = f"{path}: types[{i}]"
        lt = parse_type(document_of(entry, where=where, base=path.parent), where=where)
        if lt.code in types:
            raise ConfigError(_("{where}: type {code} is listed twice", where=where,
                                code=lt.code))
        types[lt.code] = lt
    return types


def _csv_entries(text: str, path: Path) -> list[dict[str, Any]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    missing = [c for c in CSV_COLUMNS if rows and c not in rows[0]]
    if not rows or missing:
        raise ConfigError(_("{file}: a CSV catalogue needs the columns {columns} (missing: "
                            "{missing})", file=path, columns=", ".join(CSV_COLUMNS),
                            missing=", ".join(missing) or "—"))
    entries: dict[str, dict[str, Any]] = {}
    yes = {"1", "true", "yes", "是", "y"}
    for line, row in enumerate(rows, start=2):
        code = row["type_code"].strip()
        entry = entries.setdefault(code, {
            "code": code, "name": row["type_name"].strip(),
            "authority": {"name": row["authority_name"].strip(),
                          "code": row["authority_code"].strip()},
            "level": row["level"].strip() or None,
            "holder_types": [t.strip() for t in row["holder_types"].split("/") if t.strip()],
            "fields": []})
        if not row["field_code"].strip():
            raise ConfigError(_("{file}: line {line}: field_code is empty", file=path,
                                line=line))
        entry["fields"].append({"code": row["field_code"].strip(),
                                "title": row["field_title"].strip(),
                                "required": row["required"].strip().lower() in yes,
                                "date": row["date"].strip().lower() in yes})
    return list(entries.values())


@cache
def catalogue(path: Path = CATALOGUE) -> dict[str, LicenseType]:
    """The example catalogue shipped with licreg, by type code."""
    return read_catalogue(path)


_PARSED: dict[str, LicenseType] = {}
"""Documents parsed in this process, by their SHA-256 (a type's document only changes by
being replaced, so its hash names it)."""


def registered_types(session: Session) -> dict[str, LicenseType]:
    """The types this registry knows (``licreg city apply``, ``licreg type add``), by code."""
    found: dict[str, LicenseType] = {}
    for code, sha in session.execute(select(LicenseTypeRow.code, LicenseTypeRow.schema_sha256)):
        lt = _PARSED.get(sha)
        if lt is None:
            row = session.get_one(LicenseTypeRow, code)
            lt = _PARSED[sha] = parse_type(row.schema or {}, where=f"license type {code}")
        found[code] = lt
    return found


def license_type(session: Session, code: str) -> LicenseType:
    """The registered type with this code; :class:`~registry.errors.LicenseTypeNotFound`
    naming the types there are when none."""
    types = registered_types(session)
    if code not in types:
        known = ", ".join(f"{c} {t.name}" for c, t in sorted(types.items())) or "—"
        raise LicenseTypeNotFound(_("this registry has no license type {code} (it has: "
                                    "{known})", code=code, known=known))
    return types[code]
