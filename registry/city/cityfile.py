"""A city's set-up in one file: ``licreg city apply city.toml`` makes the registry match it.

The file (TOML, YAML or JSON; ``schemas/city.schema.json``) names the city, the license types
it issues — each from a catalogue (``from_catalogue = "<code>"``) or written out in full — and
its departments with the types each issues::

    [city]
    division_code = "330100"
    name = "示范市"

    [[license_types]]
    from_catalogue = "11100000MB0143028R001"

    [[departments]]
    uscc = "11330100MB1703218R"
    name = "示范市市场监督管理局"
    short_name = "市场监管局"
    types = ["11100000MB0143028R001"]

:func:`apply_city` adds what is new, updates what changed, removes what the file no longer
names — refusing, with the reason, to remove a type or a department that licenses, batches,
templates or seals were made under — and says what it changed; the same file a second time
changes nothing. :func:`export_city` writes the registry back out in the same shape.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.city.setup import (
    Change,
    add_department,
    register_type,
    remove_department,
    remove_type,
    set_city,
    update_department,
)
from registry.config import SCHEMA_DIR
from registry.db.models import City, Department
from registry.errors import CityError
from registry.i18n import _, os_reason
from registry.license.types import (
    LicenseType,
    catalogue,
    document_of,
    entry_of,
    parse_type,
    read_catalogue,
    registered_types,
)
from registry.schemacheck import load_validator, problem_of

__all__ = ["CITY_SCHEMA", "CityPlan", "DepartmentPlan", "apply_city", "export_city",
           "read_city_file", "read_type_file", "write_city_file"]

CITY_SCHEMA = SCHEMA_DIR / "city.schema.json"


@dataclass(frozen=True)
class DepartmentPlan:
    """A department as the city file names it."""

    uscc: str
    name: str
    short_name: str | None
    division_code: str
    type_codes: tuple[str, ...]


@dataclass(frozen=True)
class CityPlan:
    """A city file, checked: what the registry should hold."""

    division_code: str
    name: str
    types: tuple[LicenseType, ...]
    departments: tuple[DepartmentPlan, ...]
    source: str
    """The file it came from (for messages)."""


def _load(path: Path) -> Any:
    try:
        text = path.read_text("utf-8-sig")
    except OSError as exc:
        raise CityError(_("{file}: cannot read the city file: {why}", file=path,
                          why=os_reason(exc))) from exc
    try:
        if path.suffix.lower() == ".toml":
            return tomllib.loads(text)
        if path.suffix.lower() in (".yaml", ".yml"):
            return yaml.safe_load(text)
        return json.loads(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError, ValueError) as exc:
        raise CityError(_("{file}: not a readable city file: {why}", file=path,
                          why=exc)) from exc


def read_type_file(path: Path) -> LicenseType:
    """One license type from a file (TOML, YAML or JSON): an entry as a city file writes it
    (``code``, ``name``, ``fields`` …), or a type's whole JSON Schema document
    (``x-type-code`` …)."""
    doc = _load(path)
    where = str(path)
    if not isinstance(doc, Mapping):
        raise CityError(_("{file}: a license type file holds one type (a table or object)",
                          file=path))
    if "x-type-code" in doc:
        return parse_type(doc, where=where)
    return parse_type(document_of(doc, where=where, base=path.parent), where=where)


def read_city_file(path: Path) -> CityPlan:
    """Read and check a city file; CityError naming the file and the first problem."""
    doc = _load(path)
    problem = problem_of(load_validator(CITY_SCHEMA), doc)
    if problem is not None:
        raise CityError(_("{file}: {problem}", file=path, problem=problem))
    city = doc["city"]
    shipped: dict[str, LicenseType] | None = None
    types: dict[str, LicenseType] = {}
    for i, entry in enumerate(doc.get("license_types", ())):
        where = f"{path}: license_types[{i}]"
        if "from_catalogue" in entry:
            if shipped is None:
                shipped = (read_catalogue(path.parent / doc["catalogue"])
                           if doc.get("catalogue") else catalogue())
            code = entry["from_catalogue"]
            if code not in shipped:
                raise CityError(_("{where}: the catalogue has no license type {code}",
                                  where=where, code=code))
            lt = shipped[code]
        else:
            lt = parse_type(document_of(entry, where=where, base=path.parent), where=where)
        if lt.code in types:
            raise CityError(_("{where}: license type {code} is listed twice", where=where,
                              code=lt.code))
        types[lt.code] = lt
    departments: dict[str, DepartmentPlan] = {}
    for d in doc["departments"]:
        if d["uscc"] in departments:
            raise CityError(_("{file}: department {uscc} is listed twice", file=path,
                              uscc=d["uscc"]))
        departments[d["uscc"]] = DepartmentPlan(
            uscc=d["uscc"], name=d["name"], short_name=d.get("short_name"),
            division_code=d.get("division_code", city["division_code"]),
            type_codes=tuple(d.get("types", ())))
    return CityPlan(division_code=city["division_code"], name=city["name"],
                    types=tuple(types.values()), departments=tuple(departments.values()),
                    source=str(path))


def apply_city(session: Session, plan: CityPlan) -> list[Change]:
    """Make the registry hold what ``plan`` says, in the caller's transaction; what changed.

    Types are registered before the departments that issue them, and removed after the
    departments that issued them stop; a refusal (CityError) rolls the whole file back.
    """
    changes = set_city(session, division_code=plan.division_code, name=plan.name)
    for lt in plan.types:
        changes += register_type(session, lt)
    wanted = {d.uscc: d for d in plan.departments}
    existing = {d.uscc: d for d in session.scalars(select(Department))}
    for uscc, d in wanted.items():
        if uscc in existing:
            changes += update_department(session, uscc=uscc, name=d.name,
                                         short_name=d.short_name,
                                         division_code=d.division_code,
                                         type_codes=d.type_codes)
        else:
            changes += add_department(session, uscc=uscc, name=d.name,
                                      short_name=d.short_name, division_code=d.division_code,
                                      type_codes=d.type_codes)
    for uscc in sorted(set(existing) - set(wanted)):
        changes += remove_department(session, uscc)
    named = {lt.code for lt in plan.types}
    for code in sorted(set(registered_types(session)) - named):
        changes += remove_type(session, code)
    session.flush()
    return changes


def export_city(session: Session) -> dict[str, Any]:
    """The registry's city, types and departments, as a city file holds them."""
    city = session.scalar(select(City))
    if city is None:
        raise CityError(_("this registry has no city yet: `licreg city apply` one first"))
    types = registered_types(session)
    departments = []
    for d in session.scalars(select(Department).order_by(Department.uscc)):
        entry: dict[str, Any] = {"uscc": d.uscc, "name": d.name}
        if d.short_name:
            entry["short_name"] = d.short_name
        if d.division_code != city.division_code:
            entry["division_code"] = d.division_code
        entry["types"] = sorted(t.type_code for t in d.types)
        departments.append(entry)
    return {"city": {"division_code": city.division_code, "name": city.name},
            "license_types": [entry_of(types[c]) for c in sorted(types)],
            "departments": departments}


def write_city_file(doc: Mapping[str, Any], path: Path) -> None:
    """Write a city file in the format its suffix names (.toml, .yaml/.yml, .json)."""
    suffix = path.suffix.lower()
    if suffix == ".toml":
        text = tomli_w.dumps(dict(doc))
    elif suffix in (".yaml", ".yml"):
        text = yaml.safe_dump(dict(doc), allow_unicode=True, sort_keys=False)
    else:
        text = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    path.write_text(text, encoding="utf-8")
