"""The seal lifecycle: apply, review, make, file, authorize, and everything after.

The city's instruction is literal: departments complete the application, making and
authorization of their electronic seals (电子印章的申请、制作和授权). Each step here is a function
that checks the current status, changes it, and records who did it, when and why in
``seal_events``; a step the status does not allow raises :class:`SealTransitionError` naming the
seal (or application), its status and the step.

::

    application   applied ──approve──▶ approved ──make──▶ made   (a Seal now exists)
                     └────reject───▶ rejected
    seal          made ──file (备案)──▶ filed ──authorize (授权)──▶ active
                  active ──suspend (停用)──▶ suspended ──resume──▶ active
                  made/filed/active/suspended ──report-lost (挂失)──▶ lost
                  made/filed/active/suspended/lost ──cancel (注销)──▶ cancelled
                  made/filed/active/suspended/lost ──remake (重新制作)──▶ cancelled,
                                                      and a new seal (new key, new esID): made

Only an ``active`` seal seals licenses, and only for the license types it is authorized for at
the sealing time (:func:`registry.seal.queries.active_seal_for`). Losing, cancelling or re-making a
seal revokes its signer certificate in the seal-maker CA's CRL (:mod:`registry.seal.crl`);
licenses sealed before stay valid, as their signing time precedes the revocation.

Example (``at`` moves forward between steps in real use)::

    app = apply_for_seal(session, department_id=dept.id, kind=2, name="某局行政审批专用章",
                         purpose="行政审批专用章", type_codes=[code], valid_until=later,
                         actor="某局 张三", reason="营业执照电子化", at=now)
    approve_application(session, app.id, actor="印章管理员", reason="材料齐全", at=now)
    seal = make_seal_from(session, app.id, keystore=ks, passphrase=pw, actor="制章", reason="…",
                          at=now)
    file_seal(session, seal.id, actor="公安备案", reason="备案", at=now)
    authorize_seal(session, seal.id, type_codes=[code], valid_from=now, valid_to=later,
                   actor="印章管理员", reason="授权签发营业执照", at=now)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy import JSON, ForeignKey, Index, Integer, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry.clock import china_text
from registry.db.models import (
    Base,
    Department,
    DepartmentType,
    Seal,
    SealAuthorization,
    StepRecord,
)
from registry.db.steps import locked_for_step
from registry.errors import DepartmentNotFound, SealError, SealNotFound, SealTransitionError
from registry.i18n import N_, SEPARATOR, _, named, word
from registry.license.types import registered_types
from registry.seal.crl import revoke_certificate
from registry.seal.kinds import seal_kind
from registry.seal.making import make_seal, parse_seal, seal_picture_png
from registry.seal.pki import issue_signer, load_maker

__all__ = [
    "APPLICATION_STEPS",
    "SEAL_STEPS",
    "STATUS_NAMES",
    "STEP_NAMES",
    "SealApplication",
    "SealEvent",
    "SealMaking",
    "apply_for_seal",
    "approve_application",
    "authorize_seal",
    "cancel_seal",
    "file_seal",
    "make_seal_from",
    "reject_application",
    "remake_seal",
    "report_seal_lost",
    "resume_seal",
    "status_name",
    "statuses_text",
    "step_name",
    "suspend_seal",
]

# step → (statuses it may start from, status it leads to)
APPLICATION_STEPS: dict[str, tuple[tuple[str, ...], str]] = {
    "approve": (("applied",), "approved"),
    "reject": (("applied",), "rejected"),
    "make": (("approved",), "made"),
}
"""The application's transitions (an application starts ``applied``)."""
_REVOCABLE = ("made", "filed", "active", "suspended")
SEAL_STEPS: dict[str, tuple[tuple[str, ...], str]] = {
    "file": (("made",), "filed"),
    "authorize": (("filed", "active"), "active"),
    "suspend": (("active",), "suspended"),
    "resume": (("suspended",), "active"),
    "report-lost": (_REVOCABLE, "lost"),
    "cancel": ((*_REVOCABLE, "lost"), "cancelled"),
    "remake": ((*_REVOCABLE, "lost"), "cancelled"),
}
"""The seal's transitions (a seal starts ``made``); ``remake`` also makes a new seal."""

STATUS_NAMES = {
    "applied": N_("seal status|applied"),
    "approved": N_("seal status|approved"),
    "rejected": N_("seal status|rejected"),
    "made": N_("seal status|made"),
    "filed": N_("seal status|filed"),
    "active": N_("seal status|active"),
    "suspended": N_("seal status|suspended"),
    "lost": N_("seal status|lost"),
    "cancelled": N_("seal status|cancelled"),
}
"""Status of a seal or application → its name for people (已启用 …; the code in English and
in JSON)."""
STEP_NAMES = {
    "apply": N_("seal step|apply"),
    "approve": N_("seal step|approve"),
    "reject": N_("seal step|reject"),
    "make": N_("seal step|make"),
    "file": N_("seal step|file"),
    "authorize": N_("seal step|authorize"),
    "suspend": N_("seal step|suspend"),
    "resume": N_("seal step|resume"),
    "report-lost": N_("seal step|report-lost"),
    "cancel": N_("seal step|cancel"),
    "remake": N_("seal step|remake"),
}
"""Step of a seal's life → its name for people (申请、审核通过 …)."""


def status_name(status: str | None) -> str:
    """A seal's or application's status as a person reads it (— for none)."""
    return named(STATUS_NAMES, status)


def step_name(step: str) -> str:
    """A seal step as a person reads it."""
    return named(STEP_NAMES, step)


def statuses_text(names: Sequence[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``, in the reader's language (names already shown)."""
    if len(names) == 1:
        return names[0]
    return _("{first} or {last}", first=word(SEPARATOR).join(names[:-1]), last=names[-1])


class SealApplication(Base):
    """A department's application (申请) for an electronic seal."""

    __tablename__ = "seal_applications"
    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    kind: Mapped[int] = mapped_column(Integer)
    """Seal kind code (registry.seal.kinds)."""
    name: Mapped[str] = mapped_column(String(200))
    """The seal's name as registered, e.g. 示范市市场监督管理局行政审批专用章."""
    purpose: Mapped[str] = mapped_column(String(100))
    """Printed below the star, e.g. 行政审批专用章; empty for a 法定名称章."""
    type_codes: Mapped[list[str]] = mapped_column(JSON)
    """The license types the seal will seal (written into the SESeal)."""
    valid_until: Mapped[dt.datetime]
    """End of the validity asked for."""
    applicant: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    """applied / approved / rejected / made."""
    applied_at: Mapped[dt.datetime]


class SealMaking(Base):
    """Where a seal came from: its application and, for a re-made seal, the seal it replaces."""

    __tablename__ = "seal_makings"
    __table_args__ = (Index("ix_seal_makings_application", "application_id"),)
    seal_id: Mapped[int] = mapped_column(ForeignKey("seals.id"), primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("seal_applications.id"))
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("seals.id"))
    """The seal this one re-makes (重新制作); that seal is cancelled."""


class SealEvent(StepRecord, Base):
    """One step of a seal's life: what, who, when, why."""

    __tablename__ = "seal_events"
    __table_args__ = (
        Index("ix_seal_events_application", "application_id"),
        Index("ix_seal_events_seal", "seal_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("seal_applications.id"))
    seal_id: Mapped[int | None] = mapped_column(ForeignKey("seals.id"))
    step: Mapped[str] = mapped_column(String(20))
    """apply / approve / reject / make / file / authorize / suspend / resume / report-lost /
    cancel / remake."""


# -- helpers ----------------------------------------------------------------------------------


def _who_why(actor: str, reason: str) -> None:
    if not actor.strip():
        raise SealError(_("every seal step needs the person or office doing it (actor)"))
    if not reason.strip():
        raise SealError(_("every seal step needs a reason"))


def _aware(when: dt.datetime, what: str) -> dt.datetime:
    if when.tzinfo is None:
        raise SealError(_("{what} {time} has no time zone; pass an aware datetime", what=what,
                          time=when.isoformat()))
    return when


def _record(
    session: Session,
    *,
    step: str,
    application_id: int | None,
    seal_id: int | None,
    from_status: str | None,
    to_status: str,
    actor: str,
    reason: str,
    at: dt.datetime,
    detail: dict[str, Any] | None = None,
) -> SealEvent:
    event = SealEvent(application_id=application_id, seal_id=seal_id, step=step,
                      from_status=from_status, to_status=to_status, actor=actor.strip(),
                      at=at, reason=reason.strip(), detail=detail)
    session.add(event)
    return event


def _application(session: Session, application_id: int, step: str) -> SealApplication:
    return locked_for_step(
        session, SealApplication, application_id, step, APPLICATION_STEPS,
        missing=lambda: SealNotFound(_("seal application {id} does not exist",
                                       id=application_id)),
        refused=lambda app, allowed: SealTransitionError(_(
            "cannot {step} seal application {id} ({name}): it is {status}; {step} needs an "
            "application that is {allowed}", step=step_name(step), id=app.id, name=app.name,
            status=status_name(app.status),
            allowed=statuses_text([status_name(a) for a in allowed]))))


def _seal(session: Session, seal_id: int, step: str) -> Seal:
    return locked_for_step(
        session, Seal, seal_id, step, SEAL_STEPS,
        missing=lambda: SealNotFound(_("seal {id} does not exist", id=seal_id)),
        refused=lambda seal, allowed: SealTransitionError(_(
            "cannot {step} seal {es_id} ({name}): it is {status}; {step} needs a seal that is "
            "{allowed}", step=step_name(step), es_id=seal.es_id, name=seal.name,
            status=status_name(seal.status),
            allowed=statuses_text([status_name(a) for a in allowed]))))


def _origin(session: Session, seal: Seal) -> SealMaking | None:
    return session.get(SealMaking, seal.id)


def _simple_step(session: Session, seal_id: int, step: str, *, actor: str, reason: str,
                 at: dt.datetime, detail: dict[str, Any] | None = None) -> Seal:
    _who_why(actor, reason)
    seal = _seal(session, seal_id, step)
    before, seal.status = seal.status, SEAL_STEPS[step][1]
    origin = _origin(session, seal)
    _record(session, step=step, application_id=origin.application_id if origin else None,
            seal_id=seal.id, from_status=before, to_status=seal.status, actor=actor,
            reason=reason, at=_aware(at, "time"), detail=detail)
    session.flush()
    return seal


# -- the application ---------------------------------------------------------------------------


def apply_for_seal(
    session: Session,
    *,
    department_id: int,
    kind: int,
    name: str,
    purpose: str,
    type_codes: Sequence[str],
    valid_until: dt.datetime,
    actor: str,
    reason: str,
    at: dt.datetime,
) -> SealApplication:
    """A department applies for a seal (申请): kind, registered name, the types it will seal.

    The name must begin with the department's name (the seal image prints the department's
    name; the seal's registered name is that name plus, for a 业务专用章, its purpose). Every
    type must be one the department issues.
    """
    _who_why(actor, reason)
    at = _aware(at, "time")
    dept = session.get(Department, department_id)
    if dept is None:
        raise DepartmentNotFound(_("department {id} does not exist", id=department_id))
    seal_kind(kind)  # raises for an unknown kind, listing the known ones
    name = name.strip()
    if not name.startswith(dept.name):
        raise SealError(_("seal name {name} must begin with the department's name {department}",
                          name=repr(name), department=dept.name))
    codes = sorted(set(type_codes))
    if not codes:
        raise SealError(_("a seal for {department} must be for at least one license type",
                          department=dept.name))
    known = registered_types(session)
    for code in codes:
        if code not in known:
            raise SealError(_("unknown license type {code}", code=code))
        if session.get(DepartmentType, (dept.id, code)) is None:
            raise SealError(_("{department} ({uscc}) does not issue license type {code} "
                              "({type_name}); its seal cannot be for it", department=dept.name,
                              uscc=dept.uscc, code=code, type_name=known[code].name))
    if _aware(valid_until, "valid_until") <= at:
        raise SealError(_("a seal valid until {until} has expired already",
                          until=china_text(valid_until, seconds=True)))
    app = SealApplication(department_id=dept.id, kind=kind, name=name, purpose=purpose.strip(),
                          type_codes=codes, valid_until=valid_until, applicant=actor.strip(),
                          status="applied", applied_at=at)
    session.add(app)
    session.flush()
    _record(session, step="apply", application_id=app.id, seal_id=None, from_status=None,
            to_status="applied", actor=actor, reason=reason, at=at,
            detail={"kind": kind, "name": name, "type_codes": codes,
                    "valid_until": valid_until.isoformat()})
    session.flush()
    return app


def _review(session: Session, application_id: int, step: str, *, actor: str, reason: str,
            at: dt.datetime) -> SealApplication:
    _who_why(actor, reason)
    app = _application(session, application_id, step)
    before, app.status = app.status, APPLICATION_STEPS[step][1]
    _record(session, step=step, application_id=app.id, seal_id=None, from_status=before,
            to_status=app.status, actor=actor, reason=reason, at=_aware(at, "time"))
    session.flush()
    return app


def approve_application(session: Session, application_id: int, *, actor: str, reason: str,
                        at: dt.datetime) -> SealApplication:
    """The seal administrator approves an application (applied → approved)."""
    return _review(session, application_id, "approve", actor=actor, reason=reason, at=at)


def reject_application(session: Session, application_id: int, *, actor: str, reason: str,
                       at: dt.datetime) -> SealApplication:
    """The seal administrator rejects an application (applied → rejected), saying why."""
    return _review(session, application_id, "reject", actor=actor, reason=reason, at=at)


# -- making ------------------------------------------------------------------------------------


def _new_es_id(session: Session, dept: Department, keystore: Path) -> str:
    # esID: division code + the department's USCC body (organisation part) + a 4-digit serial.
    # STANDARDS.md §3.6 found no national format; this one is unique, ASCII and sortable.
    made = session.scalar(select(func.count()).select_from(Seal).where(
        Seal.department_id == dept.id)) or 0
    serial = made + 1
    while True:
        es_id = f"{dept.division_code}{dept.uscc[8:17]}{serial:04d}"
        taken = session.scalar(select(Seal.id).where(Seal.es_id == es_id)) is not None
        if not taken and not (keystore / "signers" / f"{es_id}.pem").exists():
            return es_id
        serial += 1


def _make(
    session: Session,
    app: SealApplication,
    *,
    keystore: Path,
    passphrase: bytes,
    at: dt.datetime,
    replaces: Seal | None,
) -> Seal:
    """Key pair, signer certificate, seal image and SESeal; a Seal row, status made."""
    dept = session.get_one(Department, app.department_id)
    if app.valid_until <= at:
        raise SealError(_("seal application {id} ({name}) asked for a seal valid until {until}, "
                          "which has passed; apply again", id=app.id, name=app.name,
                          until=china_text(app.valid_until, seconds=True)))
    kind = seal_kind(app.kind)
    es_id = _new_es_id(session, dept, keystore)
    signer = issue_signer(keystore, passphrase, es_id=es_id, department_name=dept.name,
                          department_uscc=dept.uscc, now=at, not_after=app.valid_until)
    picture = seal_picture_png(dept.name, app.purpose, diameter_mm=kind.diameter_mm)
    seal_der = make_seal(
        maker=load_maker(keystore, passphrase), es_id=es_id, kind=app.kind, name=app.name,
        signer_cert_der=signer.cert_der, authorized_types=list(app.type_codes), created=at,
        valid_start=at, valid_end=app.valid_until, picture_png=picture,
        picture_mm=(kind.diameter_mm, kind.diameter_mm),
    )
    info = parse_seal(seal_der)  # the dates as the SESeal holds them (whole seconds)
    seal = Seal(es_id=es_id, department_id=dept.id, name=app.name, kind=app.kind,
                status="made", key_file=signer.key_file, cert_der=signer.cert_der,
                seal_der=seal_der, valid_start=info.valid_start, valid_end=info.valid_end,
                created_at=at)
    session.add(seal)
    session.flush()
    session.add(SealMaking(seal_id=seal.id, application_id=app.id,
                           replaces_id=replaces.id if replaces is not None else None))
    return seal


def make_seal_from(
    session: Session,
    application_id: int,
    *,
    keystore: Path,
    passphrase: bytes,
    actor: str,
    reason: str,
    at: dt.datetime,
) -> Seal:
    """Make (制作) the seal of an approved application: new key pair, signer certificate from
    the seal-maker CA, the red round seal image, and the GB/T 38540 v4 SESeal signed by the
    seal-maker. The seal is ``made``: it must be filed and authorized before it seals."""
    _who_why(actor, reason)
    at = _aware(at, "time")
    app = _application(session, application_id, "make")
    seal = _make(session, app, keystore=keystore, passphrase=passphrase, at=at, replaces=None)
    before, app.status = app.status, "made"
    _record(session, step="make", application_id=app.id, seal_id=seal.id, from_status=before,
            to_status="made", actor=actor, reason=reason, at=at,
            detail={"es_id": seal.es_id, "valid_start": seal.valid_start.isoformat(),
                    "valid_end": seal.valid_end.isoformat()})
    session.flush()
    return seal


# -- filing and authorization -------------------------------------------------------------------


def file_seal(session: Session, seal_id: int, *, actor: str, reason: str,
              at: dt.datetime) -> Seal:
    """Record the seal's filing (备案): made → filed."""
    return _simple_step(session, seal_id, "file", actor=actor, reason=reason, at=at)


def authorize_seal(
    session: Session,
    seal_id: int,
    *,
    type_codes: Sequence[str],
    valid_from: dt.datetime,
    valid_to: dt.datetime,
    actor: str,
    reason: str,
    at: dt.datetime,
) -> Seal:
    """Authorize (授权) a filed or active seal to seal ``type_codes`` from ``valid_from`` to
    ``valid_to``; a filed seal becomes active. Re-authorizing a type replaces its period.

    A seal can only be authorized for types its SESeal names (those it was applied and made
    for), and only within its own validity.
    """
    _who_why(actor, reason)
    seal = _seal(session, seal_id, "authorize")
    codes = sorted(set(type_codes))
    if not codes:
        raise SealError(_("authorize seal {es_id} ({name}) for which license types?",
                          es_id=seal.es_id, name=seal.name))
    made_for = parse_seal(seal.seal_der).authorized_types
    for code in codes:
        if code not in made_for:
            raise SealError(_(
                "seal {es_id} ({name}) was made for {made_for}, not for license type {code}; "
                "apply for a seal for that type", es_id=seal.es_id, name=seal.name,
                made_for=", ".join(made_for), code=code))
    start, end = _aware(valid_from, "valid_from"), _aware(valid_to, "valid_to")
    if not seal.valid_start <= start < end <= seal.valid_end:
        raise SealError(_(
            "authorization {start} .. {end} must lie within seal {es_id}'s validity "
            "{valid_start} .. {valid_end}", start=china_text(start, seconds=True),
            end=china_text(end, seconds=True),
            es_id=seal.es_id, valid_start=china_text(seal.valid_start, seconds=True),
            valid_end=china_text(seal.valid_end, seconds=True)))
    for code in codes:
        auth = session.get(SealAuthorization, (seal.id, code))
        if auth is None:
            session.add(SealAuthorization(seal_id=seal.id, type_code=code, valid_from=start,
                                          valid_to=end))
        else:
            auth.valid_from, auth.valid_to = start, end
    return _simple_step(session, seal.id, "authorize", actor=actor, reason=reason, at=at,
                        detail={"type_codes": codes, "valid_from": start.isoformat(),
                                "valid_to": end.isoformat()})


def suspend_seal(session: Session, seal_id: int, *, actor: str, reason: str,
                 at: dt.datetime) -> Seal:
    """Suspend (停用) an active seal: it seals nothing until resumed."""
    return _simple_step(session, seal_id, "suspend", actor=actor, reason=reason, at=at)


def resume_seal(session: Session, seal_id: int, *, actor: str, reason: str,
                at: dt.datetime) -> Seal:
    """Resume a suspended seal: active again, with its authorizations as they were."""
    return _simple_step(session, seal_id, "resume", actor=actor, reason=reason, at=at)


# -- revocation ---------------------------------------------------------------------------------


def _revoking_step(session: Session, seal_id: int, step: str, *, keystore: Path,
                   passphrase: bytes, actor: str, reason: str, at: dt.datetime,
                   crl_reason: x509.ReasonFlags, detail: dict[str, Any] | None = None) -> Seal:
    _who_why(actor, reason)
    at = _aware(at, "time")
    seal = _seal(session, seal_id, step)
    before, seal.status = seal.status, SEAL_STEPS[step][1]
    origin = _origin(session, seal)
    event = _record(session, step=step, application_id=origin.application_id if origin else None,
                    seal_id=seal.id, from_status=before, to_status=seal.status, actor=actor,
                    reason=reason, at=at, detail=detail)
    session.flush()
    # The CRL is a file, outside the transaction: write it last, so a failure here rolls the
    # status change back, and a seal is never cancelled in the database but valid in the CRL.
    # A lost seal stays revoked from the loss (keyCompromise) when it is later cancelled.
    if seal.revoked_at is None:
        seal.revoked_at = revoke_certificate(keystore, passphrase, seal.cert_der, at=at,
                                             reason=crl_reason)
        seal.revocation_reason = crl_reason.value
    event.detail = {**(detail or {}), "revoked_at": seal.revoked_at.isoformat(),
                    "crl_reason": seal.revocation_reason}
    session.flush()
    return seal


def report_seal_lost(session: Session, seal_id: int, *, keystore: Path, passphrase: bytes,
                     actor: str, reason: str, at: dt.datetime) -> Seal:
    """Report a seal lost (挂失): it seals nothing more and its certificate is revoked
    (keyCompromise). Afterwards it can be cancelled or re-made."""
    return _revoking_step(session, seal_id, "report-lost", keystore=keystore,
                          passphrase=passphrase, actor=actor, reason=reason, at=at,
                          crl_reason=x509.ReasonFlags.key_compromise)


def cancel_seal(session: Session, seal_id: int, *, keystore: Path, passphrase: bytes,
                actor: str, reason: str, at: dt.datetime) -> Seal:
    """Cancel (注销) a seal for good; its certificate is revoked (cessationOfOperation) unless
    it already was."""
    return _revoking_step(session, seal_id, "cancel", keystore=keystore, passphrase=passphrase,
                          actor=actor, reason=reason, at=at,
                          crl_reason=x509.ReasonFlags.cessation_of_operation)


def remake_seal(session: Session, seal_id: int, *, keystore: Path, passphrase: bytes,
                actor: str, reason: str, at: dt.datetime) -> Seal:
    """Re-make (重新制作) a seal: a new key pair, signer certificate, esID and SESeal from the
    same application; the old seal is cancelled and its certificate revoked (superseded, or
    keyCompromise if it was lost). Returns the new seal, ``made``: file and authorize it, and
    bind templates to it, before it seals."""
    _who_why(actor, reason)
    at = _aware(at, "time")
    old = _seal(session, seal_id, "remake")
    origin = _origin(session, old)
    if origin is None:
        raise SealError(_("seal {es_id} ({name}) was made before seal applications were "
                          "recorded; apply for a new seal instead of re-making it",
                          es_id=old.es_id, name=old.name))
    app = session.get_one(SealApplication, origin.application_id)
    new = _make(session, app, keystore=keystore, passphrase=passphrase, at=at, replaces=old)
    _revoking_step(session, old.id, "remake", keystore=keystore, passphrase=passphrase,
                   actor=actor, reason=reason, at=at,
                   crl_reason=x509.ReasonFlags.superseded, detail={"new_es_id": new.es_id})
    _record(session, step="make", application_id=app.id, seal_id=new.id, from_status=None,
            to_status="made", actor=actor, reason=reason, at=at,
            detail={"es_id": new.es_id, "replaces": old.es_id,
                    "valid_start": new.valid_start.isoformat(),
                    "valid_end": new.valid_end.isoformat()})
    session.flush()
    return new
