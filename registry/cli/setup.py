"""``licreg init``, ``licreg department …``, ``licreg type …``."""

from __future__ import annotations

import click
from sqlalchemy import select

from registry.city.demo import create_demo_world, init_registry
from registry.cli._common import echo_json, engine, handle_errors, now
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import Department
from registry.license.types import load_license_types

__all__ = ["department", "department_list", "init", "type_group", "type_list"]


@click.command()
@click.option("--demo", is_flag=True, help="Also create the TEST ONLY PKI and demo departments.")
@click.pass_obj
@handle_errors
def init(settings: Settings, demo: bool) -> None:
    """Create or upgrade the registry database (and the demo world)."""

    eng = engine(settings)
    init_registry(eng)
    click.echo(f"registry ready: {settings.database_url}")
    if demo:
        with session_scope(eng) as session:
            created = create_demo_world(session, settings, now=now())
        for line in created or ["demo world already present"]:
            click.echo(f"  {line}")


@click.group()
def department() -> None:
    """Issuing departments."""


@department.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def department_list(settings: Settings, as_json: bool) -> None:
    """Departments with their 18-character code and the license types they issue."""

    with session_scope(engine(settings)) as session:
        rows = [
            {"name": d.name, "uscc": d.uscc, "division_code": d.division_code,
             "type_codes": sorted(t.type_code for t in d.types)}
            for d in session.scalars(select(Department).order_by(Department.id))
        ]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        click.echo(f"{r['uscc']}  {r['name']}  types: {', '.join(r['type_codes'])}")


@click.group("type")
def type_group() -> None:
    """License types."""


@type_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def type_list(as_json: bool) -> None:
    """License types with their 21-character code, name and face fields."""

    rows = [
        {"code": t.code, "name": t.name, "defining_authority": t.authority_name,
         "holder_types": list(t.holder_types),
         "face_fields": {f.code: f.title for f in t.face_fields}}
        for t in load_license_types().values()
    ]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        face = [f.title for f in load_license_types()[str(r['code'])].face_fields]
        click.echo(f"{r['code']}  {r['name']}  ({', '.join(face)})")
