"""Setting up a registry for a city: the schema, the license types it issues, its departments.

Each step checks what a registry relies on later and says what it changed:

- :func:`init_registry` creates or upgrades the schema (nothing else: a city brings its own
  types and departments, ``licreg city apply``);
- :func:`register_type` adds or updates one license type's document; a type that licenses were
  issued under keeps its code, and removing one is refused (:func:`remove_type`);
- :func:`add_department` / :func:`update_department` check the USCC (GB 32100), the division
  code (GB/T 2260, six digits) and that every type it issues is registered; removing a
  department that has seals, batches or licenses is refused.

>>> changes = register_type(session, catalogue()["11100000MB0143028R001"])  # doctest: +SKIP
>>> [str(c) for c in changes]                                            # doctest: +SKIP
['license type 11100000MB0143028R001 营业执照 added']
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from registry.db import migrate
from registry.db.models import (
    Batch,
    City,
    Department,
    DepartmentType,
    License,
    LicenseTypeRow,
    Seal,
    Template,
)
from registry.errors import CityError, DepartmentNotFound
from registry.i18n import _, ngettext
from registry.license.codes import uscc_check, uscc_is_valid
from registry.license.types import LicenseType, parse_type, registered_types

__all__ = [
    "Change",
    "add_department",
    "department_detail",
    "find_department",
    "init_registry",
    "register_type",
    "remove_department",
    "remove_type",
    "set_city",
    "update_department",
]


@dataclass(frozen=True)
class Change:
    """One thing a set-up step changed (or would change)."""

    kind: str
    """city / type / department."""
    key: str
    """The city's division code, the type code or the department's USCC."""
    action: str
    """added / updated / removed."""
    detail: str
    """What, for a person (in the current language)."""

    def __str__(self) -> str:
        return self.detail

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "key": self.key, "action": self.action,
                "detail": self.detail}


def init_registry(engine: Engine) -> None:
    """Create or upgrade the schema."""
    migrate(engine)


def set_city(session: Session, *, division_code: str, name: str) -> list[Change]:
    """Record the city this registry serves (one city per registry)."""
    if not re.fullmatch(r"\d{6}", division_code):
        raise CityError(_("division code {code!r} is not a six-digit GB/T 2260 code",
                          code=division_code))
    current = session.scalar(select(City))
    if current is None:
        session.add(City(division_code=division_code, name=name))
        return [Change("city", division_code, "added",
                       _("city {name} ({code}) added", name=name, code=division_code))]
    if current.division_code != division_code:
        raise CityError(_("this registry serves {name} ({code}); it cannot become {other}",
                          name=current.name, code=current.division_code, other=division_code))
    if current.name == name:
        return []
    before, current.name = current.name, name
    return [Change("city", division_code, "updated",
                   _("city {code} renamed {before} → {name}", code=division_code,
                     before=before, name=name))]


def register_type(session: Session, lt: LicenseType) -> list[Change]:
    """Add the type, or replace its document when it changed; nothing when it is the same."""
    parse_type(lt.schema, where=lt.code)  # the document must stand on its own
    row = session.get(LicenseTypeRow, lt.code)
    if row is not None and row.schema_sha256 == lt.sha256:
        return []
    action = "added" if row is None else "updated"
    if row is None:
        row = LicenseTypeRow(code=lt.code)
        session.add(row)
    row.name, row.authority_name, row.authority_code = lt.name, lt.authority_name, lt.authority_code
    row.schema, row.schema_sha256 = lt.schema, lt.sha256
    session.flush()
    text = (_("license type {code} {name} added", code=lt.code, name=lt.name)
            if action == "added" else
            _("license type {code} {name} updated", code=lt.code, name=lt.name))
    return [Change("type", lt.code, action, text)]


def _in_use(session: Session, *, type_code: str | None = None,
            department_id: int | None = None) -> str | None:
    """What keeps a type or department (or a department's type) from being removed."""
    models: list[type[License] | type[Batch] | type[Template] | type[Seal]] = [
        License, Batch, Template]
    if department_id is not None and type_code is None:
        models.append(Seal)
    for model in models:
        query = select(func.count()).select_from(model)
        if type_code is not None and model is not Seal:
            query = query.where(model.type_code == type_code)  # type: ignore[union-attr]
        if department_id is not None:
            query = query.where(model.department_id == department_id)
        n = session.scalar(query) or 0
        if n:
            return _counted(model, n)
    return None


def _counted(model: type, n: int) -> str:
    if model is License:
        return ngettext("{n} license", "{n} licenses", n, n=n)
    if model is Batch:
        return ngettext("{n} batch", "{n} batches", n, n=n)
    if model is Template:
        return ngettext("{n} template", "{n} templates", n, n=n)
    return ngettext("{n} seal", "{n} seals", n, n=n)


def remove_type(session: Session, code: str) -> list[Change]:
    """Remove a registered type nothing was issued under and no department issues."""
    row = session.get(LicenseTypeRow, code)
    if row is None:
        return []
    used = _in_use(session, type_code=code)
    if used:
        raise CityError(_("license type {code} {name} cannot be removed: it has {reason}",
                          code=code, name=row.name, reason=used))
    issuers = session.scalar(select(func.count()).select_from(DepartmentType)
                             .where(DepartmentType.type_code == code)) or 0
    if issuers:
        raise CityError(ngettext(
            "license type {code} {name} cannot be removed: {n} department issues it",
            "license type {code} {name} cannot be removed: {n} departments issue it",
            issuers, code=code, name=row.name, n=issuers))
    session.delete(row)
    return [Change("type", code, "removed",
                   _("license type {code} {name} removed", code=code, name=row.name))]


def find_department(session: Session, uscc: str) -> Department:
    dept = session.scalar(select(Department).where(Department.uscc == uscc))
    if dept is None:
        raise DepartmentNotFound(_("no department {uscc} in this registry", uscc=uscc))
    return dept


_USCC_BODY = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{9}")


def _uscc_problem(uscc: str, name: str) -> str:
    """What is wrong with a department's USCC, as a person reads it."""
    if len(uscc) == 18 and _USCC_BODY.fullmatch(uscc[:17]):
        return _("department {name}: USCC {uscc} has a wrong check character, it should be "
                 "{check}", name=name, uscc=uscc, check=uscc_check(uscc[:17]))
    return _("department {name}: {uscc} is not a USCC (GB 32100: 18 digits and capitals, no "
             "I, O, S, V or Z)", name=name, uscc=uscc)


def _check_department(session: Session, *, uscc: str, name: str, division_code: str,
                      type_codes: Sequence[str]) -> None:
    if not uscc_is_valid(uscc):
        raise CityError(_uscc_problem(uscc, name))
    if not name.strip():
        raise CityError(_("department {uscc} has no name", uscc=uscc))
    if not re.fullmatch(r"\d{6}", division_code):
        raise CityError(_("department {name}: division code {code!r} is not a six-digit "
                          "GB/T 2260 code", name=name, code=division_code))
    known = registered_types(session)
    unknown = [c for c in type_codes if c not in known]
    if unknown:
        raise CityError(_("department {name} would issue {codes}, which this registry does "
                          "not have: add the types first", name=name, codes=", ".join(unknown)))


def add_department(session: Session, *, uscc: str, name: str, division_code: str,
                   type_codes: Sequence[str], short_name: str | None = None) -> list[Change]:
    """Add a department issuing ``type_codes``; refused when its USCC is taken."""
    _check_department(session, uscc=uscc, name=name, division_code=division_code,
                      type_codes=type_codes)
    if session.scalar(select(Department).where(Department.uscc == uscc)) is not None:
        raise CityError(_("department {uscc} exists already: update it instead", uscc=uscc))
    dept = Department(uscc=uscc, name=name.strip(), short_name=short_name,
                      division_code=division_code)
    session.add(dept)
    session.flush()
    session.add_all(DepartmentType(department_id=dept.id, type_code=c)
                    for c in sorted(set(type_codes)))
    session.flush()
    return [Change("department", uscc, "added",
                   _("department {uscc} {name} added, issuing {codes}", uscc=uscc,
                     name=dept.name, codes=", ".join(sorted(set(type_codes))) or "—"))]


def update_department(session: Session, *, uscc: str, name: str | None = None,
                      division_code: str | None = None, type_codes: Sequence[str] | None = None,
                      short_name: str | None = None) -> list[Change]:
    """Change a department's name, short name, division or types; a type it issued licenses,
    batches or templates under cannot be taken away."""
    dept = find_department(session, uscc)
    new_name = name.strip() if name is not None else dept.name
    new_division = division_code if division_code is not None else dept.division_code
    current = {dt.type_code for dt in dept.types}
    wanted = set(type_codes) if type_codes is not None else current
    _check_department(session, uscc=uscc, name=new_name, division_code=new_division,
                      type_codes=sorted(wanted))
    changes: list[str] = []
    if new_name != dept.name:
        changes.append(_("name {before} → {after}", before=dept.name, after=new_name))
        dept.name = new_name
    if short_name is not None and short_name != dept.short_name:
        changes.append(_("short name {before} → {after}", before=dept.short_name or "—",
                         after=short_name))
        dept.short_name = short_name
    if new_division != dept.division_code:
        changes.append(_("division {before} → {after}", before=dept.division_code,
                         after=new_division))
        dept.division_code = new_division
    for code in sorted(current - wanted):
        used = _in_use(session, type_code=code, department_id=dept.id)
        if used:
            raise CityError(_("department {name} cannot stop issuing {code}: it has {reason}",
                              name=dept.name, code=code, reason=used))
        session.delete(session.get_one(DepartmentType, (dept.id, code)))
        changes.append(_("no longer issues {code}", code=code))
    for code in sorted(wanted - current):
        session.add(DepartmentType(department_id=dept.id, type_code=code))
        changes.append(_("now issues {code}", code=code))
    session.flush()
    if not changes:
        return []
    return [Change("department", uscc, "updated",
                   _("department {uscc} {name}: {changes}", uscc=uscc, name=dept.name,
                     changes="; ".join(changes)))]


def remove_department(session: Session, uscc: str) -> list[Change]:
    """Remove a department that has no seals, batches, templates or licenses."""
    dept = find_department(session, uscc)
    used = _in_use(session, department_id=dept.id)
    if used:
        raise CityError(_("department {uscc} {name} cannot be removed: it has {reason}",
                          uscc=uscc, name=dept.name, reason=used))
    for link in list(dept.types):
        session.delete(link)
    session.delete(dept)
    return [Change("department", uscc, "removed",
                   _("department {uscc} {name} removed", uscc=uscc, name=dept.name))]


def department_detail(session: Session, uscc: str) -> dict[str, Any]:
    """A department as ``licreg department show`` prints it."""
    dept = find_department(session, uscc)
    types = registered_types(session)
    seals = session.scalars(select(Seal).where(Seal.department_id == dept.id)
                            .order_by(Seal.id)).all()
    licenses = session.scalar(select(func.count()).select_from(License)
                              .where(License.department_id == dept.id)) or 0
    return {
        "uscc": dept.uscc, "name": dept.name, "short_name": dept.short_name,
        "division_code": dept.division_code,
        "types": [{"code": t.type_code, "name": types[t.type_code].name
                   if t.type_code in types else None}
                  for t in sorted(dept.types, key=lambda t: t.type_code)],
        "seals": [{"es_id": s.es_id, "name": s.name, "status": s.status} for s in seals],
        "licenses": licenses,
    }
