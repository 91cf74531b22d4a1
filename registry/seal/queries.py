"""Department seals as the registry uses them: find one, check it may seal, show its history.

The lifecycle steps (apply → approve → make → file → authorize, suspend, report lost, cancel,
re-make) are in :mod:`registry.seal.lifecycle`; this module answers the questions asked of a
seal afterwards. Sealing goes through two functions, once per chunk::

    seal = active_seal_for(session, template.seal_id, type_code, at=now)   # raises if not usable
    context = sealing_context(SealMaterial.of(seal, keystore=settings.keystore,
                                              passphrase=passphrase))

A seal is named on the command line by its esID, or by the number of its application (then
the newest seal made from it)::

    seal = find_seal(session, "330100MB17032180001")
    for step in seal_history(session, seal_id=seal.id): print(step.step, step.actor)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from registry.clock import china_text
from registry.db.models import Department, Seal, SealAuthorization
from registry.errors import DepartmentNotFound, NotAuthorizedError, SealError, SealNotFound
from registry.i18n import _
from registry.seal.kinds import load_seal_kinds
from registry.seal.lifecycle import SealApplication, SealEvent, SealMaking, status_name
from registry.seal.making import parse_seal
from registry.seal.pki import load_signer_key
from registry.seal.signature import SealingContext
from registry.seal.signer import SoftwareSigner

__all__ = [
    "KIND_BUSINESS",
    "KIND_OFFICIAL",
    "HistoryEntry",
    "SealMaterial",
    "SealSummary",
    "active_seal_for",
    "find_application",
    "find_seal",
    "list_seals",
    "seal_detail",
    "seal_history",
    "sealing_context",
]

KIND_OFFICIAL = 1
"""法定名称章 (the body's official-name seal); schemas/seal-kinds.json."""
KIND_BUSINESS = 2
"""业务专用章 (a business-purpose seal, e.g. 行政审批专用章); schemas/seal-kinds.json."""

def active_seal_for(session: Session, seal_id: int, type_code: str, *, at: dt.datetime) -> Seal:
    """The seal, checked usable for ``type_code`` at ``at``; raise naming what is missing.

    Usable means: status ``active`` (not made-but-unauthorized, suspended, lost or cancelled),
    within its validity, and authorized for the type at that time.
    """
    seal = session.get(Seal, seal_id)
    if seal is None:
        raise SealNotFound(_("seal {id} does not exist", id=seal_id))
    if seal.status != "active":
        raise SealError(_("seal {es_id} ({name}) is {status} and cannot seal license type {code}",
                          es_id=seal.es_id, name=seal.name, status=status_name(seal.status),
                          code=type_code))
    if not seal.valid_start <= at <= seal.valid_end:
        raise SealError(_("seal {es_id} ({name}) is not valid at {time}", es_id=seal.es_id,
                          name=seal.name, time=china_text(at, seconds=True)))
    auth = session.get(SealAuthorization, (seal.id, type_code))
    if auth is None:
        raise NotAuthorizedError(_(
            "seal {es_id} ({name}) has no authorization for license type {code} at {time}",
            es_id=seal.es_id, name=seal.name, code=type_code, time=china_text(at, seconds=True)))
    if not auth.valid_from <= at <= auth.valid_to:
        raise NotAuthorizedError(_(
            "seal {es_id} ({name}) has no authorization for license type {code} at {time} (its "
            "authorization runs {start} .. {end})", es_id=seal.es_id, name=seal.name,
            code=type_code, time=china_text(at, seconds=True),
            start=china_text(auth.valid_from, seconds=True),
            end=china_text(auth.valid_to, seconds=True)))
    return seal


@dataclass(frozen=True)
class SealMaterial:
    """What it takes to sign with a seal, without a database: picklable, so a worker process
    or a Dask worker can seal with it (the key stays encrypted in the keystore)."""

    keystore: Path
    key_file: str
    """Keystore-relative path of the signer's encrypted PKCS#8 key."""
    passphrase: bytes
    """The keystore passphrase (empty while a job travels to a Dask worker, which adds its
    own)."""
    cert_der: bytes
    """The signer certificate."""
    seal_der: bytes
    """The SESeal."""

    @classmethod
    def of(cls, seal: Seal, *, keystore: Path, passphrase: bytes) -> SealMaterial:
        return cls(keystore=keystore, key_file=seal.key_file, passphrase=passphrase,
                   cert_der=seal.cert_der, seal_der=seal.seal_der)


@lru_cache(maxsize=64)
def _signer(keystore: Path, key_file: str, passphrase: bytes, cert_der: bytes) -> SoftwareSigner:
    # Decrypting a PKCS#8 key costs a key derivation; do it once per seal per process.
    return SoftwareSigner(load_signer_key(keystore, key_file, passphrase), cert_der)


def sealing_context(material: SealMaterial) -> SealingContext:
    """Everything needed to seal licenses with a seal, loaded once per chunk."""
    signer = _signer(material.keystore, material.key_file, material.passphrase,
                     material.cert_der)
    return SealingContext(material.seal_der, signer)


# -- finding ----------------------------------------------------------------------------------


def find_application(session: Session, application_id: int) -> SealApplication:
    """The seal application with this number; SealError if none."""
    app = session.get(SealApplication, application_id)
    if app is None:
        raise SealNotFound(_("seal application {id} does not exist", id=application_id))
    return app


def find_seal(session: Session, ref: str) -> Seal:
    """The seal with esID ``ref``, or the newest seal made from application number ``ref``."""
    seal = session.scalar(select(Seal).where(Seal.es_id == ref))
    if seal is not None:
        return seal
    if ref.isdigit() and len(ref) <= 9:
        app = find_application(session, int(ref))
        seal = session.scalar(
            select(Seal).join(SealMaking, SealMaking.seal_id == Seal.id)
            .where(SealMaking.application_id == app.id).order_by(Seal.id.desc()).limit(1))
        if seal is None:
            raise SealError(_("seal application {id} ({name}) is {status}: no seal has been "
                              "made from it yet", id=app.id, name=app.name,
                              status=status_name(app.status)))
        return seal
    raise SealNotFound(_("no seal with esID {es_id}", es_id=ref))


# -- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SealSummary:
    """One line of ``licreg seal list``: a seal, or an application no seal was made from yet."""

    application_id: int | None
    """The application's number (None for a seal made before applications were recorded)."""
    es_id: str | None
    """The seal's esID; None while only the application exists."""
    status: str
    """The seal's status, or the application's while there is no seal."""
    department: str
    name: str
    kind: str
    """The kind's Chinese name."""
    type_codes: tuple[str, ...]
    """Authorized types (a seal) or applied-for types (an application)."""

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {
            "type_codes": list(self.type_codes)}


@dataclass(frozen=True)
class HistoryEntry:
    """One recorded step of a seal's or application's life."""

    at: dt.datetime
    step: str
    """apply / approve / reject / make / file / authorize / suspend / resume / report-lost /
    cancel / remake."""
    from_status: str | None
    to_status: str
    actor: str
    """Who did it."""
    reason: str
    """Why."""
    application_id: int | None
    es_id: str | None
    """The seal the step concerned (None for application steps before making)."""
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {
            "at": self.at.isoformat()}


def _kind_name(code: int) -> str:
    kind = load_seal_kinds().get(code)
    return kind.name if kind is not None else _("kind {code}", code=code)


def list_seals(
    session: Session, *, department_uscc: str | None = None, status: str | None = None
) -> list[SealSummary]:
    """Every seal, and every application without a seal yet, oldest first."""
    depts = {d.id: d for d in session.scalars(select(Department))}
    if department_uscc is not None and not any(d.uscc == department_uscc for d in depts.values()):
        raise DepartmentNotFound(_("unknown department {uscc}", uscc=department_uscc))
    made_from = {m.seal_id: m.application_id for m in session.scalars(select(SealMaking))}
    rows: list[tuple[dt.datetime, SealSummary]] = []
    for seal in session.scalars(select(Seal).order_by(Seal.id)):
        types = tuple(sorted(a.type_code for a in seal.authorizations))
        rows.append((seal.created_at, SealSummary(
            application_id=made_from.get(seal.id), es_id=seal.es_id, status=seal.status,
            department=depts[seal.department_id].name, name=seal.name,
            kind=_kind_name(seal.kind), type_codes=types)))
    for app in session.scalars(select(SealApplication).where(SealApplication.status != "made")
                               .order_by(SealApplication.id)):
        rows.append((app.applied_at, SealSummary(
            application_id=app.id, es_id=None, status=app.status,
            department=depts[app.department_id].name, name=app.name,
            kind=_kind_name(app.kind), type_codes=tuple(app.type_codes))))
    rows.sort(key=lambda r: r[0])
    out = [r[1] for r in rows]
    if department_uscc is not None:
        name = next(d.name for d in depts.values() if d.uscc == department_uscc)
        out = [r for r in out if r.department == name]
    if status is not None:
        out = [r for r in out if r.status == status]
    return out


def seal_history(
    session: Session, *, seal_id: int | None = None, application_id: int | None = None
) -> list[HistoryEntry]:
    """The recorded steps of a seal and/or an application, in the order they happened."""
    conditions = []
    if seal_id is not None:
        conditions.append(SealEvent.seal_id == seal_id)
    if application_id is not None:
        conditions.append(SealEvent.application_id == application_id)
    if not conditions:
        raise SealError(_("seal_history needs a seal or an application"))
    es_ids: dict[int, str] = {i: e for i, e in session.execute(select(Seal.id, Seal.es_id))}
    return [
        HistoryEntry(at=e.at, step=e.step, from_status=e.from_status, to_status=e.to_status,
                     actor=e.actor, reason=e.reason, application_id=e.application_id,
                     es_id=es_ids.get(e.seal_id) if e.seal_id is not None else None,
                     detail=dict(e.detail or {}))
        for e in session.scalars(select(SealEvent).where(or_(*conditions))
                                 .order_by(SealEvent.at, SealEvent.id))
    ]


def seal_detail(session: Session, ref: str) -> dict[str, Any]:
    """Everything about a seal (esID or application number): its facts and its whole history.

    An application number with no seal made yet shows the application alone.
    """
    seal: Seal | None
    try:
        seal = find_seal(session, ref)
    except SealError:
        if not (ref.isdigit() and len(ref) <= 9):
            raise
        seal = None
    if seal is None:
        applied = find_application(session, int(ref))
        return {"application": _application_dict(applied), "seal": None,
                "history": [h.to_dict()
                            for h in seal_history(session, application_id=applied.id)]}
    origin = session.get(SealMaking, seal.id)
    app = session.get(SealApplication, origin.application_id) if origin is not None else None
    info = parse_seal(seal.seal_der)
    replaces = replaced_by = None
    if origin is not None and origin.replaces_id is not None:
        replaces = session.get_one(Seal, origin.replaces_id).es_id
    successor = session.scalar(select(SealMaking.seal_id).where(SealMaking.replaces_id == seal.id))
    if successor is not None:
        replaced_by = session.get_one(Seal, successor).es_id
    dept = session.get_one(Department, seal.department_id)
    history = seal_history(session, seal_id=seal.id,
                           application_id=app.id if app is not None else None)
    return {
        "application": _application_dict(app) if app is not None else None,
        "seal": {
            "es_id": seal.es_id,
            "name": seal.name,
            "kind": seal.kind,
            "kind_name": _kind_name(seal.kind),
            "status": seal.status,
            "department": dept.name,
            "department_uscc": dept.uscc,
            "valid_start": seal.valid_start.isoformat(),
            "valid_end": seal.valid_end.isoformat(),
            "made_for_types": list(info.authorized_types),
            "authorizations": [
                {"type_code": a.type_code, "valid_from": a.valid_from.isoformat(),
                 "valid_to": a.valid_to.isoformat()}
                for a in sorted(seal.authorizations, key=lambda a: a.type_code)
            ],
            "picture_mm": list(info.picture_mm),
            "picture_bytes": len(info.picture_data),
            "seal_der_bytes": len(seal.seal_der),
            "revoked_at": seal.revoked_at.isoformat() if seal.revoked_at else None,
            "revocation_reason": seal.revocation_reason,
            "replaces": replaces,
            "replaced_by": replaced_by,
        },
        "history": [h.to_dict() for h in history],
    }


def _application_dict(app: SealApplication) -> dict[str, Any]:
    return {"id": app.id, "status": app.status, "name": app.name, "purpose": app.purpose,
            "kind": app.kind, "kind_name": _kind_name(app.kind),
            "type_codes": list(app.type_codes), "valid_until": app.valid_until.isoformat(),
            "applicant": app.applicant, "applied_at": app.applied_at.isoformat()}
