"""``licreg template …``: make a license template version, bind it to a seal, publish it.

Every step says who (``--by``, or ``LICREG_ACTOR``) and why (``--reason``); ``licreg template
show`` prints the layout, numbering, seal and history of one version: times in Beijing time,
statuses and steps in the reader's language (``--json`` keeps the codes and adds ``status_text``).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import click
from sqlalchemy import select

from registry.cli._common import echo_json, engine, handle_errors, now
from registry.cli.terminal import LocalizedGroup, columns, pad
from registry.clock import china_text
from registry.config import Settings
from registry.db import session_scope
from registry.db.models import Department
from registry.errors import SealError
from registry.i18n import N_, _, word
from registry.seal.queries import find_seal
from registry.template.layout import load_layout_file
from registry.template.lifecycle import (
    bind_template,
    list_templates,
    make_template,
    publish_template,
    status_name,
    step_name,
    template_detail,
)

__all__ = [
    "parse_position",
    "template_bind",
    "template_group",
    "template_list",
    "template_make",
    "template_publish",
    "template_show",
]

_BY = click.option("--by", "actor", envvar="LICREG_ACTOR", required=True,
                   help=N_("Who does this step (default: $LICREG_ACTOR)."))
_REASON = click.option("--reason", required=True,
                       help=N_("Why (recorded in the template's history)."))


def parse_position(value: str | None) -> tuple[float, float] | None:
    """``X,Y`` in millimetres from the page's top-left corner."""
    if value is None:
        return None
    try:
        x, y = (float(v) for v in value.split(","))
    except ValueError as exc:
        raise click.BadParameter(_("expected X,Y in millimetres, got {value}",
                                   value=repr(value)), param_hint="--at") from exc
    return x, y


@click.group("template", cls=LocalizedGroup, help=N_(
    "License templates: make, bind to a seal, publish."))
def template_group() -> None:
    """License templates: make, bind to a seal, publish."""


@template_group.command("list", help=N_(
    "Every template version with its status, seal and the licenses sealed under it."))
@click.option("--type", "type_code", default=None)
@click.option("--department", "uscc", default=None, help=N_("Only this department (USCC)."))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def template_list(settings: Settings, type_code: str | None, uscc: str | None,
                  as_json: bool) -> None:
    with session_scope(engine(settings)) as session:
        rows = list_templates(session, type_code=type_code, department_uscc=uscc)
    if as_json:
        echo_json([r.to_dict() | {"status_text": status_name(r.status)} for r in rows])
        return
    if not rows:
        click.echo(_("no templates"))
    for r in rows:
        click.echo(_("{id}  {type_name} v{version}  {status}  {department}  seal {es_id}  "
                     "licenses {licenses}", id=format(r.id, ">4"), type_name=r.type_name,
                     version=r.version, status=pad(status_name(r.status), 9),
                     department=r.department, es_id=r.es_id or "—", licenses=r.licenses))


_LABELS = {
    "status": N_("template show|status"),
    "department": N_("template show|department"),
    "seal": N_("template show|bound seal"),
    "page": N_("template show|page"),
    "numbering": N_("template show|numbering"),
    "schema": N_("template show|schema"),
    "licenses": N_("template show|licenses sealed"),
}
"""The labels of ``licreg template show``."""
_SUPERSEDED = re.compile(r"superseded by version (\d+)")
"""The reason a retire step records (in English, as stored), shown in the reader's language."""


def _reason(step: str, reason: str) -> str:
    match = _SUPERSEDED.fullmatch(reason) if step == "retire" else None
    return _("superseded by version {version}", version=match.group(1)) if match else reason


@template_group.command("show", help=N_(
    "One template version: layout, numbering, seal binding, history."))
@click.argument("template_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def template_show(settings: Settings, template_id: int, as_json: bool) -> None:
    with session_scope(engine(settings)) as session:
        d = template_detail(session, template_id)
    if as_json:
        echo_json(d | {"status_text": status_name(d["status"]),
                       "history": [h | {"step_text": step_name(h["step"])}
                                   for h in d["history"]]})
        return
    page, box = d["layout"]["page"], d["layout"]["seal"]
    numbering = d["numbering"]
    click.echo(_("template {id}  {type_name} v{version}  ({code})", id=d["id"],
                 type_name=d["type_name"], version=d["version"], code=d["type_code"]))
    width = 2 + max(columns(word(text)) for text in _LABELS.values())
    for label, value in (
        ("status", status_name(d["status"])),
        ("department", d["department"]),
        ("seal", _("{es_id} at ({x}, {y}) mm, {size} mm", es_id=d["es_id"] or "—",
                   x=box["x_mm"], y=box["y_mm"], size=box["size_mm"])),
        ("page", _("{name} {width} x {height} mm, {n} fields", name=page.get("name", ""),
                   width=page["width_mm"], height=page["height_mm"],
                   n=len(d["layout"]["fields"]))),
        ("numbering", numbering.get("pattern", _("assigned by the department"))),
        ("schema", d["schema_sha256"]),
        ("licenses", d["licenses"]),
    ):
        click.echo(f"  {pad(word(_LABELS[label]), width)}{value}")
    click.echo(word(N_("template show|history")))
    for h in d["history"]:
        change = f"{status_name(h['from_status'])} → {status_name(h['to_status'])}"
        click.echo("  " + _("{time}  {step} {change} {actor}: {reason}{which}",
                            time=china_text(dt.datetime.fromisoformat(h["at"]), seconds=True),
                            step=pad(step_name(h["step"]), 8), change=pad(change, 22),
                            actor=h["actor"], reason=_reason(h["step"], h["reason"]),
                            which=""))


@template_group.command("make", help=N_(
    "Make (制作) the next template version for a license type and department."))
@click.argument("type_code")
@click.option("--department", "uscc", required=True, help=N_("The department (USCC)."))
@click.option("--layout", "layout_path", type=click.Path(path_type=Path, exists=True),
              default=None, help=N_("Layout JSON (default: the previous version's, else "
                                 "the license type's default layout)."))
@click.option("--number-pattern", default=None,
              help=N_("The registry assigns 证照编号 with this pattern, e.g. "
                   "'{division}{yyyy}{seq:6}' (default: the previous version's rule)."))
@_BY
@_REASON
@click.pass_obj
@handle_errors
def template_make(settings: Settings, type_code: str, uscc: str, layout_path: Path | None,
                  number_pattern: str | None, actor: str, reason: str) -> None:
    layout = load_layout_file(layout_path) if layout_path is not None else None
    numbering = ({"assigned_by": "registry", "pattern": number_pattern}
                 if number_pattern is not None else None)
    with session_scope(engine(settings)) as session:
        dept_id = session.scalar(select(Department.id).where(Department.uscc == uscc))
        if dept_id is None:
            raise SealError(_("unknown department {uscc}", uscc=uscc))
        t = make_template(session, type_code=type_code, department_id=dept_id, layout=layout,
                          numbering=numbering, actor=actor, reason=reason, at=now())
        click.echo(_("template {id}: {code} v{version} made. Next: bind it to a seal, then "
                     "publish it.", id=t.id, code=type_code, version=t.version))


@template_group.command("bind", help=N_(
    "Bind (绑定) a made template to an authorized seal of its department."))
@click.argument("template_id", type=int)
@click.option("--seal", "seal_ref", required=True,
              help=N_("The seal (esID or application number)."))
@click.option("--at", "position", default=None,
              help=N_("The seal box's top-left corner X,Y in mm (default: as in the layout)."))
@_BY
@_REASON
@click.pass_obj
@handle_errors
def template_bind(settings: Settings, template_id: int, seal_ref: str, position: str | None,
                  actor: str, reason: str) -> None:
    where = parse_position(position)
    with session_scope(engine(settings)) as session:
        seal = find_seal(session, seal_ref)
        t = bind_template(session, template_id, seal_id=seal.id, position_mm=where,
                          actor=actor, reason=reason, at=now())
        box = (t.layout or {}).get("seal", {})
        click.echo(_("template {id} ({code} v{version}): bound to seal {es_id} at ({x}, {y}) mm, "
                     "{size} mm", id=t.id, code=t.type_code, version=t.version,
                     es_id=seal.es_id, x=box.get("x_mm"), y=box.get("y_mm"),
                     size=box.get("size_mm")))


@template_group.command("publish", help=N_(
    "Publish a bound template: it seals its type's licenses from now on."))
@click.argument("template_id", type=int)
@_BY
@_REASON
@click.pass_obj
@handle_errors
def template_publish(settings: Settings, template_id: int, actor: str, reason: str) -> None:
    with session_scope(engine(settings)) as session:
        t = publish_template(session, template_id, actor=actor, reason=reason, at=now())
        click.echo(_("template {id} ({code} v{version}): {status}", id=t.id, code=t.type_code,
                     version=t.version, status=status_name(t.status)))
