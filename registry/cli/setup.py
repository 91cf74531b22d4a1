"""``licreg init``, ``licreg city …``, ``licreg department …``, ``licreg type …``.

A city operator sets a registry up from its city file (``licreg city apply``), or one thing at
a time (``department add``, ``type add``, ``type import``); every command says what it
changed, and a refusal rolls the whole command back.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import tomli_w
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.city.cityfile import (
    apply_city,
    export_city,
    read_city_file,
    read_type_file,
    write_city_file,
)
from registry.city.setup import (
    Change,
    add_department,
    department_detail,
    init_registry,
    register_type,
    remove_department,
    remove_type,
    update_department,
)
from registry.cli._common import echo_json, engine, handle_errors, now
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import City, Department
from registry.errors import CityError, WeakPassphraseError
from registry.i18n import _
from registry.license.types import LicenseType, license_type, read_catalogue, registered_types
from registry.seal.lifecycle import status_name as seal_status_name

__all__ = [
    "city",
    "city_apply",
    "city_export",
    "city_show",
    "department",
    "department_add",
    "department_list",
    "department_remove",
    "department_show",
    "department_update",
    "init",
    "new_keystore_passphrase",
    "type_add",
    "type_group",
    "type_import",
    "type_list",
    "type_remove",
    "type_show",
    "type_update",
]


@contextmanager
def new_keystore_passphrase() -> Iterator[None]:
    """Around a command that may create a keystore: a passphrase too weak for one
    (WeakPassphraseError) is a usage error, said in one line, exit code 2."""
    try:
        yield
    except WeakPassphraseError as exc:
        click.echo(_("error: {detail}", detail=exc.diagnostics()), err=True)
        sys.exit(2)


def _run(settings: Settings, step: Callable[[Session], list[Change]], *, as_json: bool,
         dry_run: bool = False) -> None:
    """Run one set-up step in a transaction and say what it changed (``dry_run``: what it
    would change, then roll back)."""
    with session_scope(engine(settings)) as session:
        changes = step(session)
        if dry_run:
            session.rollback()
    if as_json:
        echo_json({"dry_run": dry_run, "changes": [c.to_dict() for c in changes]})
        return
    if not changes:
        click.echo(_("nothing to change: the registry already matches"))
        return
    if dry_run:
        click.echo(_("would change (nothing written, --dry-run):"))
    for c in changes:
        click.echo(f"  {c}")


@click.command()
@click.option("--demo", is_flag=True,
              help="Also create the TEST ONLY PKI and the demo city (fixtures/cities/demo.toml) "
                   "with its seals and templates.")
@click.pass_obj
@handle_errors
def init(settings: Settings, demo: bool) -> None:
    """Create or upgrade the registry database (and the demo world)."""

    settings.make_home()
    eng = engine(settings)
    init_registry(eng)
    click.echo(_("registry ready: {url}", url=settings.database_url))
    if demo:
        # The demo makes seals: only then does init need the PKI (cryptography).
        from registry.city.demo import create_demo_world

        with new_keystore_passphrase(), session_scope(eng) as session:
            created = create_demo_world(session, settings, now=now())
        for line in created or [_("demo world already present")]:
            click.echo(f"  {line}")


# -- the city file ------------------------------------------------------------------------


@click.group()
def city() -> None:
    """The city this registry serves: apply its city file, export it, show it."""


@city.command("apply")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Say what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def city_apply(settings: Settings, file: Path, dry_run: bool, as_json: bool) -> None:
    """Make the registry match a city file (TOML, YAML or JSON; schemas/city.schema.json):
    add what is new, update what changed, remove what it no longer names."""

    plan = read_city_file(file)
    init_registry(engine(settings))
    _run(settings, lambda session: apply_city(session, plan), as_json=as_json,
         dry_run=dry_run)


@city.command("export")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write to this file (.toml, .yaml or .json); default: TOML on stdout.")
@click.pass_obj
@handle_errors
def city_export(settings: Settings, out: Path | None) -> None:
    """Write the registry's city, license types and departments as a city file."""

    with session_scope(engine(settings)) as session:
        doc = export_city(session)
    if out is None:
        sys.stdout.write(tomli_w.dumps(doc))
        return
    write_city_file(doc, out)
    click.echo(_("wrote {file}", file=out))


@city.command("show")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def city_show(settings: Settings, as_json: bool) -> None:
    """The city, its departments and the license types they issue."""

    with session_scope(engine(settings)) as session:
        found = session.scalar(select(City))
        if found is None:
            raise CityError(_("this registry has no city yet: `licreg city apply` one first"))
        types = registered_types(session)
        departments = [department_detail(session, uscc) for uscc in session.scalars(
            select(Department.uscc).order_by(Department.uscc))]
    if as_json:
        echo_json({"division_code": found.division_code, "name": found.name,
                   "license_types": [{"code": c, "name": t.name} for c, t in sorted(types.items())],
                   "departments": departments})
        return
    click.echo(_("{name} ({code}): {n} departments, {t} license types", name=found.name,
                 code=found.division_code, n=len(departments), t=len(types)))
    for d in departments:
        click.echo(f"  {d['uscc']}  {d['name']}")
        for t in d["types"]:
            click.echo(f"      {t['code']}  {t['name']}")


# -- departments ---------------------------------------------------------------------------


@click.group()
def department() -> None:
    """Issuing departments: list, show, add, update, remove."""


@department.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def department_list(settings: Settings, as_json: bool) -> None:
    """Departments with their 18-character code and the license types they issue."""

    with session_scope(engine(settings)) as session:
        rows: list[dict[str, Any]] = [
            {"name": d.name, "short_name": d.short_name, "uscc": d.uscc,
             "division_code": d.division_code,
             "type_codes": sorted(t.type_code for t in d.types)}
            for d in session.scalars(select(Department).order_by(Department.id))
        ]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(_("no departments yet: `licreg city apply` or `licreg department add`"))
    for r in rows:
        click.echo(_("{uscc}  {name}  issues: {codes}", uscc=r["uscc"], name=r["name"],
                     codes=", ".join(r["type_codes"]) or "—"))


@department.command("show")
@click.argument("uscc")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def department_show(settings: Settings, uscc: str, as_json: bool) -> None:
    """One department: its codes, the types it issues, its seals, how many licenses."""

    with session_scope(engine(settings)) as session:
        d = department_detail(session, uscc)
    if as_json:
        echo_json(d)
        return
    click.echo(f"{d['uscc']}  {d['name']}"
               + (f"（{d['short_name']}）" if d["short_name"] else ""))
    click.echo(_("  division code: {code}", code=d["division_code"]))
    click.echo(_("  issues:"))
    for t in d["types"]:
        click.echo(f"    {t['code']}  {t['name']}")
    click.echo(_("  seals:") + ("" if d["seals"] else " " + _("none yet")))
    for s in d["seals"]:
        click.echo(f"    {s['es_id']}  {s['name']}  {seal_status_name(s['status'])}")
    click.echo(_("  licenses: {n}", n=d["licenses"]))


_TYPES = click.option("--type", "type_codes", multiple=True, metavar="CODE",
                      help="A license type the department issues (repeat for several).")


@department.command("add")
@click.option("--uscc", required=True, help="The department's 18-character USCC.")
@click.option("--name", required=True, help="Its full name.")
@click.option("--short-name", default=None, help="Its short name (for the bulletin).")
@click.option("--division-code", default=None,
              help="Its GB/T 2260 division code (default: the city's).")
@_TYPES
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def department_add(settings: Settings, uscc: str, name: str, short_name: str | None,
                   division_code: str | None, type_codes: Sequence[str], as_json: bool) -> None:
    """Add an issuing department."""

    def step(session: Session) -> list[Change]:
        division = division_code or _city(session).division_code
        return add_department(session, uscc=uscc, name=name, short_name=short_name,
                              division_code=division, type_codes=type_codes)

    _run(settings, step, as_json=as_json)


@department.command("update")
@click.argument("uscc")
@click.option("--name", default=None)
@click.option("--short-name", default=None)
@click.option("--division-code", default=None)
@_TYPES
@click.option("--add-type", "add_types", multiple=True, metavar="CODE",
              help="Also issue this type (repeatable).")
@click.option("--remove-type", "remove_types", multiple=True, metavar="CODE",
              help="Stop issuing this type (refused once it has licenses; repeatable).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def department_update(settings: Settings, uscc: str, name: str | None, short_name: str | None,
                      division_code: str | None, type_codes: Sequence[str],
                      add_types: Sequence[str], remove_types: Sequence[str],
                      as_json: bool) -> None:
    """Change a department's name, short name, division or the types it issues (--type
    gives the whole list; --add-type / --remove-type change it)."""

    def step(session: Session) -> list[Change]:
        wanted: Sequence[str] | None = type_codes or None
        if add_types or remove_types:
            current = department_detail(session, uscc)["types"]
            base = set(wanted or (t["code"] for t in current))
            wanted = sorted((base | set(add_types)) - set(remove_types))
        return update_department(session, uscc=uscc, name=name, short_name=short_name,
                                 division_code=division_code, type_codes=wanted)

    _run(settings, step, as_json=as_json)


@department.command("remove")
@click.argument("uscc")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def department_remove(settings: Settings, uscc: str, as_json: bool) -> None:
    """Remove a department that has no seals, batches, templates or licenses."""

    _run(settings, lambda session: remove_department(session, uscc), as_json=as_json)


def _city(session: Session) -> City:
    found: City | None = session.scalar(select(City))
    if found is None:
        raise CityError(_("this registry has no city yet: `licreg city apply` one first"))
    return found


# -- license types ---------------------------------------------------------------------------


@click.group("type")
def type_group() -> None:
    """License types: list, show, add, update, import from a catalogue, remove."""


def _type_row(t: LicenseType) -> dict[str, Any]:
    return {"code": t.code, "name": t.name, "defining_authority": t.authority_name,
            "level": t.level, "holder_types": list(t.holder_types),
            "face_fields": {f.code: f.title for f in t.face_fields}}


@type_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def type_list(settings: Settings, as_json: bool) -> None:
    """License types with their 21-character code, name and face fields."""

    with session_scope(engine(settings)) as session:
        types = registered_types(session)
    rows = [_type_row(types[c]) for c in sorted(types)]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(_("no license types yet: `licreg city apply` or `licreg type add`"))
    for r in rows:
        click.echo(f"{r['code']}  {r['name']}  ({'、'.join(r['face_fields'].values())})")


@type_group.command("show")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def type_show(settings: Settings, code: str, as_json: bool) -> None:
    """One license type: its authority, level, holders, face fields and validity rules."""

    with session_scope(engine(settings)) as session:
        t = license_type(session, code)
    if as_json:
        echo_json({**_type_row(t), "schema": t.schema})
        return
    click.echo(f"{t.code}  {t.name}")
    click.echo(_("  defining authority: {name} ({code})", name=t.authority_name,
                 code=t.authority_code))
    click.echo(_("  issuing level: {level}; holders: {kinds}", level=t.level or "—",
                 kinds=", ".join(t.holder_types)))
    rules = t.rules
    click.echo(_("  validity: open-ended (长期) {open}; longest {years}; may start before the "
                 "issue date: {early}", open=_("allowed") if rules.open_ended else _("not allowed"),
                 years=_("{n} years", n=rules.max_years) if rules.max_years else _("no limit"),
                 early=_("yes") if rules.start_may_precede_issue else _("no")))
    click.echo(_("  face fields:"))
    for f in t.face_fields:
        click.echo(f"    {f.code:<14} {f.title}" + ("" if f.required else _(" (optional)")))


def _type_file_step(path: Path, *, must_exist: bool) -> Callable[[Session], list[Change]]:
    lt = read_type_file(path)

    def step(session: Session) -> list[Change]:
        known = lt.code in registered_types(session)
        if must_exist and not known:
            raise CityError(_("this registry has no license type {code}: `licreg type add` "
                              "it", code=lt.code))
        if not must_exist and known:
            raise CityError(_("license type {code} exists already: `licreg type update` it",
                              code=lt.code))
        return register_type(session, lt)

    return step


@type_group.command("add")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def type_add(settings: Settings, file: Path, as_json: bool) -> None:
    """Register a license type from its file (an entry as a city file writes it, or a
    type's JSON Schema document)."""

    _run(settings, _type_file_step(file, must_exist=False), as_json=as_json)


@type_group.command("update")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def type_update(settings: Settings, file: Path, as_json: bool) -> None:
    """Replace a registered type's document with its file's."""

    _run(settings, _type_file_step(file, must_exist=True), as_json=as_json)


@type_group.command("import")
@click.argument("catalogue", type=click.Path(path_type=Path))
@click.option("--only", "codes", multiple=True, metavar="CODE",
              help="Import only this type (repeatable); default: every type in the file.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def type_import(settings: Settings, catalogue: Path, codes: Sequence[str],
                as_json: bool) -> None:
    """Register license types from a catalogue (证照目录; CSV or JSON, as
    schemas/catalogue/common-types.json)."""

    types = read_catalogue(catalogue)
    missing = [c for c in codes if c not in types]
    if missing:
        raise CityError(_("{file}: the catalogue has no license type {code}", file=catalogue,
                          code=", ".join(missing)))
    chosen = [types[c] for c in codes] if codes else list(types.values())

    def step(session: Session) -> list[Change]:
        return [change for lt in chosen for change in register_type(session, lt)]

    _run(settings, step, as_json=as_json)


@type_group.command("remove")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def type_remove(settings: Settings, code: str, as_json: bool) -> None:
    """Remove a license type no department issues and nothing was issued under."""

    def step(session: Session) -> list[Change]:
        license_type(session, code)  # LicenseTypeNotFound naming the types there are
        return remove_type(session, code)

    _run(settings, step, as_json=as_json)
