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
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import cache
from itertools import islice
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from registry.config import SCHEMA_DIR
from registry.errors import IngestError, MappingError
from registry.i18n import _
from registry.ingest.frames import EXTRA, LINE, ReadOptions
from registry.ingest.messages import listed
from registry.ingest.normalize import normalize_code
from registry.ingest.reader import not_a_table, read_rows
from registry.ingest.rules import HeaderMap, header_map
from registry.license.types import LicenseType

__all__ = [
    "HEADER_LOOK",
    "MAPPING_SCHEMA",
    "ColumnMapping",
        "load_mapping",
    "map_header",
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


HEADER_LOOK = 10
"""Rows under the header looked at for one that names the columns better (the header is then
lower down, under title rows), when a required column is missing."""
_CLOSE = 0.55
"""Similarity (difflib ratio of the normalised names) above which a found column is offered as
the example mapping line: 法人 for 法定代表人 (0.57) is, 出生日期 for 成立日期 (0.5), a
physician's birth date in the wrong folder, is not."""


def map_header(path: Path, columns: Sequence[str], lt: LicenseType, options: ReadOptions, *,
               file: str) -> HeaderMap:
    """The :func:`~registry.ingest.rules.header_map` of ``columns``, the header of ``path``
    read with ``options``; an :class:`~registry.errors.IngestError` naming ``file`` when it
    lacks a required column, saying what the clerk can do: the columns missing and those
    found, a row under the header that looks like the header (``--header-row``) and a
    ``--mapping`` line for the found column closest to a missing one. A .txt of which no
    column names an element is refused as plain text."""
    try:
        hmap = header_map(columns, lt, mapping=options.mapping, ignore=options.ignore)
    except IngestError as exc:  # two columns giving one element: say which file
        raise IngestError(str(exc), file=file) from exc
    if not hmap.missing:
        return hmap
    lacking = [_("{title} ({element})", title=lt.element(c).title, element=c)
               for c in hmap.missing]
    said = [_("missing required column(s): {columns}", columns=listed(lacking))]
    found = listed([_("{column!r}", column=c) for c in columns])
    said.append(_("columns found: {columns}", columns=found) if columns
                else _("no columns found"))
    below = _header_below(path, columns, hmap, lt, options)
    if below is None and not hmap.mapping and Path(file).suffix.lower() == ".txt":
        raise not_a_table(file)
    if below is not None:
        line, sheet, still_missing = below
        said.append(
            _("sheet {sheet!r} row {row} looks like the header (the rows above it are titles): "
              "give --header-row {row} (\"header_row\": {row} in a mapping file)",
              sheet=sheet, row=line) if sheet is not None else
            _("line {line} looks like the header (the lines above it are titles): give "
              "--header-row {line} (\"header_row\": {line} in a mapping file)", line=line))
    if below is None or still_missing:
        column, code = _closest([c for c in columns if c in hmap.unknown], hmap.missing, lt)
        example = json.dumps({"columns": {column or _("your column name"): code}},
                             ensure_ascii=False)
        said.append(_("name each missing column by its element title or code, or map your own "
                      "column names in a mapping file given with --mapping FILE "
                      "(schemas/mapping.schema.json), e.g. {example}", example=example))
    message = said[0]
    for more in said[1:]:
        message = _("{message}; {more}", message=message, more=more)
    raise IngestError(message, file=file)


def _header_below(path: Path, columns: Sequence[str], hmap: HeaderMap, lt: LicenseType,
                  options: ReadOptions) -> tuple[int, str | None, tuple[str, ...]] | None:
    """(line, sheet, required elements it would still lack) of the first of the
    :data:`HEADER_LOOK` rows under the header (those before any error) that names more
    required elements than the header does, at least two; None if there is none."""
    if not columns:
        return None
    best: tuple[int, str | None, tuple[str, ...]] | None = None
    try:
        for chunk in islice(read_rows(path, chunk_rows=1, options=options), HEADER_LOOK):
            for _i, row in chunk.iterrows():
                cells = [str(row[c]) for c in columns] + list(row.get(EXTRA, ()))
                try:
                    found = header_map([c for c in cells if c.strip()], lt,
                                       mapping=options.mapping, ignore=options.ignore)
                except IngestError:  # two cells naming one element: not a header either
                    continue
                if (len(found.mapping) >= 2 and len(found.missing) < len(hmap.missing)
                        and (best is None or len(found.missing) < len(best[2]))):
                    best = (int(row[LINE]), chunk.attrs.get("source", {}).get("sheet"),
                            found.missing)
    except IngestError:  # the hint is drawn from the rows before a broken one
        pass
    return best


def _closest(found: Sequence[str], missing: Sequence[str], lt: LicenseType,
             ) -> tuple[str | None, str]:
    """The found column and missing element most alike (by title), for an example mapping
    line; (None, first missing) when none is :data:`_CLOSE` enough."""
    best: tuple[float, str | None, str] = (_CLOSE, None, missing[0])
    for code in missing:
        title = normalize_code(lt.element(code).title)
        for column in found:
            ratio = SequenceMatcher(None, normalize_code(column), title).ratio()
            if ratio > best[0] or (ratio == best[0] and best[1] is None):
                best = (ratio, column, code)
    return best[1], best[2]
