"""License templates (证照模板): made, bound to a seal, published, one version at a time.

A template is a version, per license type and department, of: the field schema (the type's
schema in ``schemas/``, pinned by its SHA-256), the page layout
(:mod:`registry.template.layout`), the numbering rule for 证照编号
(:mod:`registry.template.numbering`)
and its binding to a seal (which seal stamps it, at which position on the page)::

    made ──bind (绑定)──▶ bound ──publish──▶ published ──(a newer version published)──▶ retired
             ▲   │
             └───┘ re-bind before publishing

Only a published, bound template seals licenses (:func:`published_template`), and every sealed
license records its template (``License.template_id``) and seal. A published version is never
changed: a new layout, numbering or seal means a new version, so licenses sealed under an older
version keep exactly the template they were made with. Every step is recorded in
``template_events`` with who, when and why.

Example::

    t = make_template(session, type_code=code, department_id=dept.id, actor="某局 李四",
                      reason="营业执照模板", at=now)
    bind_template(session, t.id, seal_id=seal.id, actor="某局 李四", reason="绑定行政审批专用章",
                  at=now)
    publish_template(session, t.id, actor="印章管理员", reason="审核通过", at=now)
    assert published_template(session, type_code=code, department_id=dept.id).id == t.id
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ForeignKey, Index, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry.db.models import (
    Base,
    Department,
    DepartmentType,
    License,
    Seal,
    StepRecord,
    Template,
)
from registry.db.steps import locked_for_step
from registry.errors import (
    DepartmentNotFound,
    SealError,
    SealNotFound,
    TemplateError,
    TemplateNotFound,
    TemplateTransitionError,
)
from registry.i18n import N_, SEPARATOR, _, named, word
from registry.license.types import LicenseType, license_type, registered_types
from registry.seal.making import parse_seal
from registry.seal.queries import active_seal_for
from registry.template.layout import check_layout, default_layout
from registry.template.numbering import check_numbering

__all__ = [
    "STATUS_NAMES",
    "STEP_NAMES",
    "TEMPLATE_STEPS",
    "TemplateEvent",
    "TemplateSummary",
    "bind_template",
    "find_template",
    "layout_of",
    "list_templates",
    "make_template",
    "publish_template",
    "published_template",
    "schema_sha256",
    "status_name",
    "step_name",
    "template_detail",
]

TEMPLATE_STEPS: dict[str, tuple[tuple[str, ...], str]] = {
    "bind": (("made", "bound"), "bound"),
    "publish": (("bound",), "published"),
}
"""step → (statuses it may start from, status it leads to); ``make`` starts a version."""
STATUS_NAMES = {
    "made": N_("template status|made"),
    "bound": N_("template status|bound"),
    "published": N_("template status|published"),
    "retired": N_("template status|retired"),
}
"""A template version's status → its name for people (the code in English and in JSON)."""
STEP_NAMES = {
    "make": N_("template step|make"),
    "bind": N_("template step|bind"),
    "publish": N_("template step|publish"),
    "retire": N_("template step|retire"),
}
"""A template step → its name for people."""


def status_name(status: str | None) -> str:
    """A template version's status as a person reads it (— for none)."""
    return named(STATUS_NAMES, status)


def step_name(step: str) -> str:
    """A template step as a person reads it."""
    return named(STEP_NAMES, step)


class TemplateEvent(StepRecord, Base):
    """One step of a template version's life: what, who, when, why."""

    __tablename__ = "template_events"
    __table_args__ = (Index("ix_template_events_template", "template_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"))
    step: Mapped[str] = mapped_column(String(20))
    """make / bind / publish / retire."""


def schema_sha256(session: Session, type_code: str) -> str:
    """SHA-256 of the registered type's document (what a template pins)."""
    return license_type(session, type_code).sha256


def _who_why(actor: str, reason: str, at: dt.datetime) -> None:
    if not actor.strip():
        raise TemplateError(_("every template step needs the person or office doing it (actor)"))
    if not reason.strip():
        raise TemplateError(_("every template step needs a reason"))
    if at.tzinfo is None:
        raise TemplateError(_("{what} {time} has no time zone; pass an aware datetime",
                              what="time", time=at.isoformat()))


def _label(session: Session, t: Template) -> str:
    lt = registered_types(session).get(t.type_code)
    return _("template {id} ({type_name} v{version})", id=t.id,
             type_name=lt.name if lt else t.type_code, version=t.version)


def _record(session: Session, t: Template, step: str, before: str | None, *, actor: str,
            reason: str, at: dt.datetime, detail: dict[str, Any] | None = None) -> None:
    session.add(TemplateEvent(template_id=t.id, step=step, from_status=before,
                              to_status=t.status, actor=actor.strip(), at=at,
                              reason=reason.strip(), detail=detail))


def find_template(session: Session, template_id: int) -> Template:
    """The template version with this id; TemplateError if none."""
    t = session.get(Template, template_id)
    if t is None:
        raise TemplateNotFound(_("template {id} does not exist", id=template_id))
    return t


def _for_step(session: Session, template_id: int, step: str) -> Template:
    def refused(t: Template, allowed: tuple[str, ...]) -> TemplateTransitionError:
        names = [status_name(a) for a in allowed]
        needed = names[0] if len(names) == 1 else _("{first} or {last}",
                                                     first=word(SEPARATOR).join(names[:-1]),
                                                     last=names[-1])
        message = _("cannot {step} {template}: it is {status}; {step} needs a template that is "
                    "{allowed}", step=step_name(step), template=_label(session, t),
                    status=status_name(t.status), allowed=needed)
        if t.status in ("published", "retired"):
            message = _("{problem} (make a new version instead)", problem=message)
        return TemplateTransitionError(message)

    return locked_for_step(
        session, Template, template_id, step, TEMPLATE_STEPS, refused=refused,
        missing=lambda: TemplateNotFound(_("template {id} does not exist", id=template_id)))


def layout_of(template: Template, license_type: LicenseType) -> dict[str, Any]:
    """The template's layout; for a template made before layouts were stored, the type's
    default layout (what a renderer should use)."""
    return dict(template.layout) if template.layout is not None else default_layout(
        license_type)


def make_template(
    session: Session,
    *,
    type_code: str,
    department_id: int,
    layout: dict[str, Any] | None = None,
    numbering: dict[str, Any] | None = None,
    actor: str,
    reason: str,
    at: dt.datetime,
) -> Template:
    """Make (制作) the next template version for a type and department, unbound.

    ``layout`` defaults to the previous version's, else the type's default layout;
    ``numbering`` to the previous version's, else numbers assigned by the department.
    """
    _who_why(actor, reason, at)
    lt = license_type(session, type_code)
    dept = session.get(Department, department_id)
    if dept is None:
        raise DepartmentNotFound(_("department {id} does not exist", id=department_id))
    if session.get(DepartmentType, (dept.id, type_code)) is None:
        raise TemplateError(_("{department} ({uscc}) does not issue {type_name} ({code})",
                              department=dept.name, uscc=dept.uscc, type_name=lt.name,
                              code=type_code))
    previous = session.scalar(
        select(Template)
        .where(Template.type_code == type_code, Template.department_id == dept.id)
        .order_by(Template.version.desc())
        .limit(1)
    )
    if layout is None:
        layout = layout_of(previous, lt) if previous is not None else default_layout(lt)
    checked = check_layout(layout, lt)
    if numbering is None and previous is not None:
        numbering = previous.numbering
    rule = check_numbering(numbering)
    t = Template(type_code=type_code, department_id=dept.id,
                 version=(previous.version if previous is not None else 0) + 1, status="made",
                 seal_id=None, schema_sha256=lt.sha256, created_at=at,
                 layout=checked, numbering=rule)
    session.add(t)
    session.flush()
    _record(session, t, "make", None, actor=actor, reason=reason, at=at,
            detail={"version": t.version, "schema_sha256": t.schema_sha256, "numbering": rule,
                    "page": checked["page"]})
    session.flush()
    return t


def bind_template(
    session: Session,
    template_id: int,
    *,
    seal_id: int,
    position_mm: tuple[float, float] | None = None,
    actor: str,
    reason: str,
    at: dt.datetime,
) -> Template:
    """Bind (绑定) a made template to an authorized seal of its department, at a position.

    ``position_mm`` is the seal box's top-left corner (x, y) on the page; absent: where the
    layout already puts it. The box's size becomes the seal's recorded size (SESeal picture).
    """
    _who_why(actor, reason, at)
    t = _for_step(session, template_id, "bind")
    seal = session.get(Seal, seal_id)
    if seal is None:
        raise SealNotFound(_("seal {id} does not exist", id=seal_id))
    if seal.department_id != t.department_id:
        raise TemplateError(_("cannot bind {template} to seal {es_id} ({name}): the seal belongs "
                              "to another department", template=_label(session, t),
                              es_id=seal.es_id, name=seal.name))
    try:
        active_seal_for(session, seal.id, t.type_code, at=at)
    except SealError as exc:
        raise TemplateError(_("cannot bind {template} to seal {es_id}: {problem}",
                              template=_label(session, t), es_id=seal.es_id,
                              problem=exc)) from exc
    lt = license_type(session, t.type_code)
    layout = layout_of(t, lt)
    box = dict(layout["seal"])
    if position_mm is not None:
        box["x_mm"], box["y_mm"] = position_mm
    box["size_mm"] = parse_seal(seal.seal_der).picture_mm[0]
    layout["seal"] = box
    checked = check_layout(layout, lt)
    before = t.status
    t.seal_id, t.layout, t.status = seal.id, checked, "bound"
    _record(session, t, "bind", before, actor=actor, reason=reason, at=at,
            detail={"es_id": seal.es_id, "seal_box_mm": box})
    session.flush()
    return t


def publish_template(
    session: Session, template_id: int, *, actor: str, reason: str, at: dt.datetime
) -> Template:
    """Publish a bound template: from now on it seals its type's licenses for its department.

    Refused when its seal can no longer seal the type, or the type's schema changed since the
    template was made. The previously published version of the same type and department is
    retired (licenses sealed under it keep it).
    """
    _who_why(actor, reason, at)
    t = _for_step(session, template_id, "publish")
    assert t.seal_id is not None  # bound templates have a seal
    try:
        active_seal_for(session, t.seal_id, t.type_code, at=at)
    except SealError as exc:
        raise TemplateError(_("cannot publish {template}: {problem}",
                              template=_label(session, t), problem=exc)) from exc
    if t.schema_sha256 != schema_sha256(session, t.type_code):
        raise TemplateError(_("cannot publish {template}: the schema of {code} changed since "
                              "the template was made; make a new version",
                              template=_label(session, t), code=t.type_code))
    for old in session.scalars(select(Template).where(
            Template.type_code == t.type_code, Template.department_id == t.department_id,
            Template.status == "published", Template.id != t.id)):
        old.status = "retired"
        _record(session, old, "retire", "published", actor=actor, at=at,
                reason=f"superseded by version {t.version}", detail={"by_template": t.id})
    t.status = "published"
    _record(session, t, "publish", "bound", actor=actor, reason=reason, at=at)
    session.flush()
    return t


def published_template(session: Session, *, type_code: str, department_id: int) -> Template:
    """The newest published, bound template; raise naming the type and department if none."""
    template = session.scalar(
        select(Template)
        .where(
            Template.type_code == type_code,
            Template.department_id == department_id,
            Template.status == "published",
            Template.seal_id.is_not(None),
        )
        .order_by(Template.version.desc())
        .limit(1)
    )
    if template is None:
        raise TemplateNotFound(_("no published template bound to a seal for license type "
                                 "{code} and department {department}", code=type_code,
                                 department=department_id))
    return template


# -- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateSummary:
    """One line of ``licreg template list``."""

    id: int
    type_code: str
    type_name: str
    department: str
    version: int
    status: str
    """made / bound / published / retired."""
    es_id: str | None
    """The bound seal's esID."""
    licenses: int
    """Licenses sealed under this version."""

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def list_templates(
    session: Session, *, type_code: str | None = None, department_uscc: str | None = None
) -> list[TemplateSummary]:
    """Every template version, by type, department and version."""
    query = select(Template, Department).join(Department, Department.id == Template.department_id)
    if type_code is not None:
        query = query.where(Template.type_code == type_code)
    if department_uscc is not None:
        query = query.where(Department.uscc == department_uscc)
    counts: dict[int, int] = {t: n for t, n in session.execute(
        select(License.template_id, func.count()).group_by(License.template_id))}
    es_ids: dict[int, str] = {i: e for i, e in session.execute(select(Seal.id, Seal.es_id))}
    types = registered_types(session)
    return [
        TemplateSummary(id=t.id, type_code=t.type_code,
                        type_name=types[t.type_code].name if t.type_code in types else "?",
                        department=d.name, version=t.version, status=t.status,
                        es_id=es_ids.get(t.seal_id) if t.seal_id is not None else None,
                        licenses=counts.get(t.id, 0))
        for t, d in session.execute(
            query.order_by(Template.type_code, Template.department_id, Template.version))
    ]


def template_detail(session: Session, template_id: int) -> dict[str, Any]:
    """Everything about one template version, with its history."""
    t = find_template(session, template_id)
    (summary,) = [s for s in list_templates(session, type_code=t.type_code) if s.id == t.id]
    events = session.scalars(select(TemplateEvent).where(TemplateEvent.template_id == t.id)
                             .order_by(TemplateEvent.at, TemplateEvent.id))
    return {
        **summary.to_dict(),
        "schema_sha256": t.schema_sha256,
        "created_at": t.created_at.isoformat(),
        "numbering": check_numbering(t.numbering),
        "layout": layout_of(t, license_type(session, t.type_code)),
        "history": [
            {"at": e.at.isoformat(), "step": e.step, "from_status": e.from_status,
             "to_status": e.to_status, "actor": e.actor, "reason": e.reason,
             "detail": e.detail or {}}
            for e in events
        ],
    }
