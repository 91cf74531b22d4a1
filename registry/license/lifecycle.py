"""License lifecycle after issue: change, renew, suspend and lift, revoke, withdraw, cancel,
expire, transfer out (and its cancellation), transfer in.

Each operation writes, in the caller's transaction, the new version or the new status, a row
of the license's history (who, when, why) and its event through
:func:`registry.license.events.record_events` — the outbox row the sync pushes to the province and
the
transparency-log leaf — so a change and its events commit or roll back together.

- 变更 (change), 延续 (renew) and 转入 (transfer in) seal a **new version**: a new identifier
  (the version part goes up), the predecessor linked and marked SUPERSEDED, sealed with the
  department's currently published template and seal, exactly as ingest seals
  (:func:`registry.license.issue.store_prepared` stores it);
- the others change only the **status** of the current version, no re-sealing.

Operate types and statuses follow STANDARDS.md §2.2:

========================  ====  ==============  ============================
action                    op    new status      allowed from
========================  ====  ==============  ============================
suspend 暂扣              03    SUSPENDED       VALID
unsuspend 暂扣发还        06    VALID           SUSPENDED
revoke 撤销               05    REVOKED         VALID, SUSPENDED
withdraw 吊销             05    WITHDRAWN       VALID, SUSPENDED
cancel 注销               05    CANCELLED       VALID, SUSPENDED, EXPIRED
expire 过期失效           04    EXPIRED         VALID, SUSPENDED (end date passed)
transfer_out 转出         05    TRANSFERRED_OUT VALID
cancel_transfer_out       10    VALID           TRANSFERRED_OUT
change 变更               09    new version     VALID
renew 延续                02    new version     VALID, EXPIRED
transfer_in 转入          08    new version     (a license from another registry)
========================  ====  ==============  ============================

>>> result = suspend(session, identifier, at=now, actor="clerk", reason="整改")  # doctest: +SKIP
>>> result.status, result.operate_type                                            # doctest: +SKIP
('SUSPENDED', '03')
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry.clock import china_day
from registry.config import Settings
from registry.db.models import Base, Department, DepartmentType, License
from registry.errors import CodeError, LifecycleError
from registry.i18n import N_, _, named
from registry.ingest.normalize import date_bounds, hidden_character, is_formula
from registry.license.codes import (
    HOLDER_ID_CARD,
    HOLDER_USCC,
    id_card_is_valid,
    parse_license_identifier,
    uscc_is_valid,
)
from registry.license.events import LicenseEvent, record_events
from registry.license.issue import Issuer, build_elements, issue_version, lock_type, next_version
from registry.license.types import LicenseType, license_type, registered_types

__all__ = [
    "ACTION_TITLES",
    "OPERATE_TITLES",
    "OP_CANCEL_TRANSFER_OUT",
    "OP_EXPIRE",
    "OP_RENEW",
    "OP_TRANSFER_IN",
    "STATUS_TITLES",
    "TRANSITIONS",
    "ExpirySweep",
    "LicenseChange",
    "LifecycleResult",
    "Transition",
    "cancel",
    "cancel_transfer_out",
    "chain",
    "change",
    "change_status",
    "expire",
    "expire_due",
    "history",
    "operate_text",
    "renew",
    "revoke",
    "status_text",
    "step_text",
    "suspend",
    "transfer_in",
    "transfer_out",
    "unsuspend",
    "withdraw",
]

OP_RENEW = "02"
"""operateType 延续."""
OP_EXPIRE = "04"
"""operateType 过期失效."""
OP_TRANSFER_IN = "08"
"""operateType 转入."""
OP_CHANGE = "09"
"""operateType 变更."""
OP_CANCEL_TRANSFER_OUT = "10"
"""operateType 取消转出."""
SUPERSEDED = "SUPERSEDED"
LONG_TERM = "长期"
"""ZZYXQJZRQ of a license without an end date."""

STATUS_TITLES: Mapping[str, str] = {
    "VALID": N_("VALID"),
    "SUSPENDED": N_("SUSPENDED"),
    "REVOKED": N_("REVOKED"),
    "CANCELLED": N_("CANCELLED"),
    "EXPIRED": N_("EXPIRED"),
    "WITHDRAWN": N_("WITHDRAWN"),
    "TRANSFERRED_OUT": N_("TRANSFERRED_OUT"),
    "OTHER": N_("OTHER"),
    SUPERSEDED: N_("SUPERSEDED"),
}
"""A license status as a person reads it (the code in English, 有效 / 已暂扣 … in Chinese);
JSON keeps the code."""

OPERATE_TITLES: Mapping[str, str] = {
    "01": N_("new issue"),
    "02": N_("renewal"),
    "03": N_("suspension"),
    "04": N_("expiry"),
    "05": N_("cancellation, revocation, withdrawal or transfer out"),
    "06": N_("lifting of a suspension"),
    "07": N_("other step"),
    "08": N_("transfer in"),
    "09": N_("change of elements"),
    "10": N_("cancelling a transfer out"),
}
"""An operateType (STANDARDS.md §2.2) as a person reads it."""

ACTION_TITLES: Mapping[str, str] = {
    "suspend": OPERATE_TITLES["03"],
    "unsuspend": OPERATE_TITLES["06"],
    "revoke": N_("revocation"),
    "withdraw": N_("withdrawal"),
    "cancel": N_("cancellation"),
    "expire": OPERATE_TITLES["04"],
    "transfer_out": N_("transfer out"),
    "cancel_transfer_out": OPERATE_TITLES["10"],
    "change": OPERATE_TITLES["09"],
    "renew": OPERATE_TITLES["02"],
    "transfer_in": OPERATE_TITLES["08"],
}
"""A lifecycle step as a person reads it (撤销, 吊销, 注销 and 转出 share operateType 05)."""


def status_text(status: str | None) -> str:
    """``status`` in the current language (``-`` for none, the code itself if unknown)."""
    if not status:
        return "-"
    return named(STATUS_TITLES, status)


def operate_text(operate_type: str) -> str:
    """``operate_type`` in the current language (empty if unknown)."""
    return _(OPERATE_TITLES[operate_type]) if operate_type in OPERATE_TITLES else ""


def step_text(action: str) -> str:
    """The lifecycle step ``action`` in the current language (the action itself if unknown)."""
    return named(ACTION_TITLES, action)


def _statuses(codes: frozenset[str] | Sequence[str]) -> str:
    return _(", ").join(status_text(c) for c in sorted(codes))


class LicenseChange(Base):
    """One lifecycle step of one license version: what, who, when and why."""

    __tablename__ = "license_changes"
    __table_args__ = (Index("ix_license_changes_license", "license_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    license_id: Mapped[int] = mapped_column(ForeignKey("licenses.id"))
    """The version the step produced (new versions) or changed (status steps)."""
    action: Mapped[str] = mapped_column(String(30))
    operate_type: Mapped[str] = mapped_column(String(2))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    related: Mapped[str | None] = mapped_column(String(160))
    """For a new version: the identifier it replaces."""
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime]


@dataclass(frozen=True)
class Transition:
    """A status-only step."""

    action: str
    operate_type: str
    """STANDARDS.md §2.2 operateType of its event."""
    to_status: str
    from_statuses: frozenset[str]
    title: str
    """Its name (a msgid of :data:`ACTION_TITLES`: translate it where shown, with ``_``)."""


def _t(action: str, op: str, to: str, *sources: str) -> Transition:
    return Transition(action, op, to, frozenset(sources), ACTION_TITLES[action])


TRANSITIONS: Mapping[str, Transition] = {
    t.action: t
    for t in (
        _t("suspend", "03", "SUSPENDED", "VALID"),
        _t("unsuspend", "06", "VALID", "SUSPENDED"),
        _t("revoke", "05", "REVOKED", "VALID", "SUSPENDED"),
        _t("withdraw", "05", "WITHDRAWN", "VALID", "SUSPENDED"),
        _t("cancel", "05", "CANCELLED", "VALID", "SUSPENDED", "EXPIRED"),
        _t("expire", OP_EXPIRE, "EXPIRED", "VALID", "SUSPENDED"),
        _t("transfer_out", "05", "TRANSFERRED_OUT", "VALID"),
        _t("cancel_transfer_out", OP_CANCEL_TRANSFER_OUT, "VALID", "TRANSFERRED_OUT"),
    )
}
"""Status-only steps by action name."""


@dataclass(frozen=True)
class LifecycleResult:
    """What one lifecycle step did."""

    action: str
    identifier: str
    """The version now current: the new one for change / renew / transfer in."""
    operate_type: str
    status: str
    """Its status after the step."""
    previous: str | None
    """The version acted on (status steps: the same identifier; new versions: the
    predecessor)."""
    previous_status: str | None
    """The acted-on version's status before the step."""

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class ExpirySweep:
    """What one :func:`expire_due` call did."""

    expired: int
    """Licenses that became EXPIRED."""
    identifiers: tuple[str, ...]
    """Their identifiers (at most the first 100)."""


# -- common ----------------------------------------------------------------------------------


def _current(session: Session, identifier: str, action: str) -> License:
    lic = session.scalars(
        select(License).where(License.identifier == identifier).with_for_update()
    ).one_or_none()
    if lic is None:
        raise LifecycleError(_("{step} refused: no license with identifier {identifier}",
                               step=step_text(action), identifier=identifier))
    if lic.status == SUPERSEDED:
        newest = session.scalar(
            select(License.identifier)
            .where(License.type_code == lic.type_code, License.number == lic.number)
            .order_by(License.version.desc())
            .limit(1)
        )
        raise LifecycleError(_(
            "{step} of {identifier} refused: it is superseded by a later version ({newest}); "
            "act on the current version", step=step_text(action), identifier=identifier,
            newest=newest))
    return lic


def _record(
    session: Session,
    rows: Sequence[tuple[int, str, bytes]],
    *,
    action: str,
    operate_type: str,
    from_status: Sequence[str | None],
    to_status: str,
    related: str | None,
    actor: str,
    reason: str | None,
    at: dt.datetime,
    event: bool = True,
) -> None:
    """History rows and, unless ``event`` is False, the events of ``rows`` (id, identifier,
    data hash), with one statement each."""
    if not actor:
        raise LifecycleError(_("every lifecycle step needs an actor (who did it)"))
    if event:
        record_events(session, [
            LicenseEvent(license_id=i, identifier=ident, operate_type=operate_type,
                         status=to_status, data_hash=data_hash)
            for i, ident, data_hash in rows
        ], at=at)  # fmt: skip
    session.execute(insert(LicenseChange), [
        {"license_id": i, "action": action, "operate_type": operate_type, "from_status": before,
         "to_status": to_status, "related": related, "actor": actor[:200], "reason": reason,
         "at": at}
        for (i, _, _), before in zip(rows, from_status, strict=True)
    ])  # fmt: skip


# -- status-only steps -----------------------------------------------------------------------


def change_status(
    session: Session,
    identifier: str,
    action: str,
    *,
    at: dt.datetime,
    actor: str,
    reason: str | None = None,
) -> LifecycleResult:
    """Apply the status-only step ``action`` (a key of :data:`TRANSITIONS`) to a version."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise LifecycleError(_("unknown lifecycle step {action!r}; known: {known}",
                               action=action, known=", ".join(sorted(TRANSITIONS))))
    lic = _current(session, identifier, action)
    before = lic.status
    if before not in transition.from_statuses:
        raise LifecycleError(_(
            "{step} of {identifier} refused: it is {status}; {step} applies to a license that "
            "is {allowed}", step=step_text(action), identifier=identifier,
            status=status_text(before), allowed=_statuses(transition.from_statuses)))
    lic.status = transition.to_status
    session.flush()
    _record(session, [(lic.id, lic.identifier, lic.data_hash)], action=action,
            operate_type=transition.operate_type, from_status=[before],
            to_status=transition.to_status, related=None, actor=actor, reason=reason,
            at=at)  # fmt: skip
    return LifecycleResult(action, identifier, transition.operate_type, transition.to_status,
                           identifier, before)  # fmt: skip


def suspend(session: Session, identifier: str, *, at: dt.datetime, actor: str,
            reason: str | None = None) -> LifecycleResult:  # fmt: skip
    """暂扣 (03): VALID → SUSPENDED."""
    return change_status(session, identifier, "suspend", at=at, actor=actor, reason=reason)


def unsuspend(session: Session, identifier: str, *, at: dt.datetime, actor: str,
              reason: str | None = None) -> LifecycleResult:  # fmt: skip
    """暂扣发还 (06): SUSPENDED → VALID."""
    return change_status(session, identifier, "unsuspend", at=at, actor=actor, reason=reason)


def revoke(session: Session, identifier: str, *, at: dt.datetime, actor: str,
           reason: str | None = None) -> LifecycleResult:  # fmt: skip
    """撤销 (05): → REVOKED (the issuing decision is undone)."""
    return change_status(session, identifier, "revoke", at=at, actor=actor, reason=reason)


def withdraw(session: Session, identifier: str, *, at: dt.datetime, actor: str,
             reason: str | None = None) -> LifecycleResult:  # fmt: skip
    """吊销 (05): → WITHDRAWN (taken away as a penalty)."""
    return change_status(session, identifier, "withdraw", at=at, actor=actor, reason=reason)


def cancel(session: Session, identifier: str, *, at: dt.datetime, actor: str,
           reason: str | None = None) -> LifecycleResult:  # fmt: skip
    """注销 (05): → CANCELLED (the holder gave it up, or it ended)."""
    return change_status(session, identifier, "cancel", at=at, actor=actor, reason=reason)


def transfer_out(session: Session, identifier: str, *, at: dt.datetime, actor: str,
                 reason: str | None = None) -> LifecycleResult:  # fmt: skip
    """转出 (05, 办理转出): VALID → TRANSFERRED_OUT."""
    return change_status(session, identifier, "transfer_out", at=at, actor=actor, reason=reason)


def cancel_transfer_out(session: Session, identifier: str, *, at: dt.datetime, actor: str,
                        reason: str | None = None) -> LifecycleResult:  # fmt: skip
    """取消转出 (10): TRANSFERRED_OUT → VALID."""
    return change_status(session, identifier, "cancel_transfer_out", at=at, actor=actor,
                         reason=reason)  # fmt: skip


def _due(valid_to: str, today: dt.date) -> bool:
    return valid_to != LONG_TERM and len(valid_to) == 8 and valid_to < today.strftime("%Y%m%d")


def expire(session: Session, identifier: str, *, today: dt.date, at: dt.datetime, actor: str,
           reason: str | None = None) -> LifecycleResult:  # fmt: skip
    """过期失效 (04): → EXPIRED, once the end date (ZZYXQJZRQ) is before ``today``."""
    lic = _current(session, identifier, "expire")
    if not _due(lic.valid_to, today):
        raise LifecycleError(_(
            "expiry of {identifier} refused: it is valid until {valid_to} (today is {today})",
            identifier=identifier, valid_to=lic.valid_to, today=today.strftime("%Y%m%d")))
    return change_status(session, identifier, "expire", at=at, actor=actor, reason=reason)


def expire_due(
    session: Session,
    *,
    today: dt.date,
    at: dt.datetime,
    actor: str = "expiry-sweep",
    limit: int = 5000,
) -> ExpirySweep:
    """The daily sweep: every VALID or SUSPENDED version whose end date is before ``today``
    becomes EXPIRED, with its 04 event, in bulk — at most ``limit`` per call (call again
    until it returns 0; commit in between)."""
    cutoff = today.strftime("%Y%m%d")
    rows = session.execute(
        select(License.id, License.identifier, License.data_hash, License.status)
        .where(
            License.status.in_(("VALID", "SUSPENDED")),
            License.valid_to < cutoff,
            License.valid_to != LONG_TERM,
        )
        .order_by(License.id)
        .limit(limit)
        .with_for_update()
    ).all()
    if not rows:
        return ExpirySweep(0, ())
    ids = [r.id for r in rows]
    for start in range(0, len(ids), 900):
        session.execute(
            update(License)
            .where(License.id.in_(ids[start : start + 900]))
            .values(status="EXPIRED")
            .execution_options(synchronize_session=False)
        )
    _record(session, [(r.id, r.identifier, r.data_hash) for r in rows], action="expire",
            operate_type=OP_EXPIRE, from_status=[r.status for r in rows], to_status="EXPIRED",
            related=None, actor=actor, reason=_("end date before {date}", date=cutoff),
            at=at)  # fmt: skip
    return ExpirySweep(len(rows), tuple(r.identifier for r in rows[:100]))


# -- new versions ----------------------------------------------------------------------------


def _check_value(lt: LicenseType, code: str, value: str, at: dt.datetime) -> None:
    """The value rule of an upload (:mod:`registry.ingest.normalize`) for a value typed into a
    lifecycle step: a date yyyyMMdd in its element's plausible range, no control or format
    character, no formula."""
    element = lt.element(code)
    if element.is_date and value != LONG_TERM:
        try:
            day = dt.datetime.strptime(value, "%Y%m%d").date()
        except ValueError as exc:
            raise LifecycleError(_("{title} ({code}) must be a date yyyyMMdd, got {value!r}",
                                   title=element.title, code=code, value=value)) from exc
        earliest, latest = date_bounds(code, china_day(at))
        if not earliest <= day <= latest:
            raise LifecycleError(_("{title} ({code}) must be between {earliest} and {latest}, "
                                   "got {value}", title=element.title, code=code, value=value,
                                   earliest=earliest.isoformat(), latest=latest.isoformat()))
        return
    hidden = hidden_character(value)
    if hidden is not None:
        raise LifecycleError(_("{title} ({code}) holds the invisible or control character "
                               "{char}: type the value again without it", title=element.title,
                               code=code, char=f"U+{ord(hidden):04X}"))
    if is_formula(value):
        raise LifecycleError(_("{title} ({code}) starts like a spreadsheet formula ({value!r}); "
                               "such values are not sealed", title=element.title, code=code,
                               value=value))


def _check_holder(elements: Mapping[str, str]) -> None:
    kind, code = elements.get("CZZTDMLXDM"), elements.get("CZZTDM", "")
    if kind == HOLDER_USCC and not uscc_is_valid(code):
        raise LifecycleError(_("持证主体代码 {code!r} is not a valid 统一社会信用代码",
                               code=code))
    if kind == HOLDER_ID_CARD and not id_card_is_valid(code):
        raise LifecycleError(_("持证主体代码 {code!r} is not a valid 公民身份号码", code=code))


def _new_version(
    session: Session,
    settings: Settings,
    identifier: str,
    *,
    action: str,
    operate_type: str,
    allowed: frozenset[str],
    changes: Mapping[str, str],
    at: dt.datetime,
    actor: str,
    reason: str | None,
) -> LifecycleResult:
    # A new version of a type is stored under the type's lock, as a batch stores one, taken
    # before the license's row lock in the same order as a batch, so neither waits forever.
    type_code = session.scalar(select(License.type_code).where(License.identifier == identifier))
    if type_code is not None:
        lock_type(session, type_code)
    lic = _current(session, identifier, action)
    if lic.status not in allowed:
        raise LifecycleError(_(
            "{step} of {identifier} refused: it is {status}; {step} applies to a license that "
            "is {allowed}", step=step_text(action), identifier=identifier,
            status=status_text(lic.status), allowed=_statuses(allowed)))
    lt = license_type(session, lic.type_code)
    old = json.loads(lic.record)
    elements = {k: v for k, v in old.items() if k != "ZZBS"}
    editable = {e.code for e in lt.elements if not e.derived} - {"ZZBH"}
    for code, value in changes.items():
        if code not in editable:
            if code == "ZZBH":
                why = _("cannot change {code}: it identifies the license", code=code)
            elif code in {e.code for e in lt.elements}:
                why = _("cannot change {code}: it is derived from other elements", code=code)
            else:
                why = _("cannot change {code}: it is not an element of {name} ({type_code})",
                        code=code, name=lt.name, type_code=lt.code)
            raise LifecycleError(why)
        value = str(value).strip()
        if not value:
            if lt.element(code).required:
                raise LifecycleError(_("{step} refused: {title} ({code}) is required",
                                       step=step_text(action), title=lt.element(code).title,
                                       code=code))
            elements.pop(code, None)
            continue
        _check_value(lt, code, value, at)
        elements[code] = value
    if elements == {k: v for k, v in old.items() if k != "ZZBS"}:
        raise LifecycleError(_("{step} of {identifier} refused: nothing would change",
                               step=step_text(action), identifier=identifier))
    _check_holder(elements)
    department = session.get_one(Department, lic.department_id)
    before = lic.status
    new = issue_version(session, settings, elements, department=department, license_type=lt,
                        version=next_version(lic.version), predecessor=lic.identifier,
                        operate_type=operate_type, at=at)
    session.flush()
    new_id = session.scalar(select(License.id).where(License.identifier == new.identifier))
    assert new_id is not None
    _record(session, [(new_id, new.identifier, new.data_hash)], action=action,
            operate_type=operate_type, from_status=[None], to_status="VALID",
            related=lic.identifier, actor=actor, reason=reason, at=at, event=False)  # fmt: skip
    session.expire(lic)
    return LifecycleResult(action, new.identifier, operate_type, "VALID", lic.identifier,
                           before)  # fmt: skip


def change(
    session: Session,
    settings: Settings,
    identifier: str,
    *,
    changes: Mapping[str, str],
    at: dt.datetime,
    actor: str,
    reason: str | None = None,
) -> LifecycleResult:
    """变更 (09): a new version with ``changes`` (element code → new value; an empty value
    drops an optional element), sealed anew; the old version becomes SUPERSEDED."""
    return _new_version(session, settings, identifier, action="change", operate_type=OP_CHANGE,
                        allowed=frozenset({"VALID"}), changes=changes, at=at, actor=actor,
                        reason=reason)  # fmt: skip


def renew(
    session: Session,
    settings: Settings,
    identifier: str,
    *,
    valid_to: str,
    valid_from: str | None = None,
    at: dt.datetime,
    actor: str,
    reason: str | None = None,
) -> LifecycleResult:
    """延续 (02): a new version valid until ``valid_to`` (yyyyMMdd or 长期), optionally from
    ``valid_from``; allowed for a VALID or EXPIRED license whose end date it extends."""
    lic = _current(session, identifier, "renew")
    if lic.valid_to == LONG_TERM:
        raise LifecycleError(_("renewal of {identifier} refused: it is valid 长期 (without end)",
                               identifier=identifier))
    if valid_to != LONG_TERM and valid_to <= lic.valid_to:
        raise LifecycleError(_("renewal of {identifier} until {valid_to} refused: it is already "
                               "valid until {current}", identifier=identifier,
                               valid_to=valid_to, current=lic.valid_to))
    changes = {"ZZYXQJZRQ": valid_to, **({"ZZYXQQSRQ": valid_from} if valid_from else {})}
    return _new_version(session, settings, identifier, action="renew", operate_type=OP_RENEW,
                        allowed=frozenset({"VALID", "EXPIRED"}), changes=changes, at=at,
                        actor=actor, reason=reason)  # fmt: skip


def transfer_in(
    session: Session,
    settings: Settings,
    *,
    elements: Mapping[str, Any],
    department_uscc: str,
    predecessor: str,
    at: dt.datetime,
    actor: str,
    reason: str | None = None,
) -> LifecycleResult:
    """转入 (08): a license of another registry becomes one of ``department_uscc``'s.

    ``elements`` are the license's elements as the other registry sealed them (its
    ``license.json``); the issuing body becomes this department, the identifier a new one
    (this department's code, the predecessor's version + 1) linked to ``predecessor``, sealed
    with this department's seal. Refused when this registry already holds a current version
    of the same type and number.
    """
    try:
        prior = parse_license_identifier(predecessor)
    except CodeError as exc:
        raise LifecycleError(_("transfer in refused: predecessor {predecessor!r}: {why}",
                               predecessor=predecessor, why=exc)) from exc
    type_code = str(elements.get("ZZLXDM") or prior.type_code)
    types = registered_types(session)
    if type_code not in types:
        raise LifecycleError(_("transfer in refused: unknown license type {code}",
                               code=type_code))
    lt = types[type_code]
    department = session.scalar(select(Department).where(Department.uscc == department_uscc))
    if department is None:
        raise LifecycleError(_("transfer in refused: unknown department {uscc}",
                               uscc=department_uscc))
    if session.get(DepartmentType, (department.id, type_code)) is None:
        raise LifecycleError(_("transfer in refused: {department} does not issue {name} ({code})",
                               department=department.name, name=lt.name, code=type_code))
    number = str(elements.get("ZZBH") or "")
    lock_type(session, type_code)  # as a batch storing this type does: judged after, or first
    held = session.scalar(select(License.identifier).where(
        License.type_code == type_code, License.number == number,
        License.status != SUPERSEDED))  # fmt: skip
    if held is not None:
        raise LifecycleError(_("transfer in of {code} {number} refused: this registry holds it "
                               "already as {held}", code=type_code, number=number, held=held))
    row = {k: str(v) for k, v in elements.items() if v is not None}
    row.setdefault("CZZTDMLXDM", lt.holder_types[0])
    missing = [e.code for e in lt.elements
               if e.required and not e.derived and not row.get(e.code)]  # fmt: skip
    if missing:
        raise LifecycleError(_("transfer in refused: the record lacks {codes}",
                               codes=", ".join(missing)))
    for e in lt.elements:
        if not e.derived and row.get(e.code):
            _check_value(lt, e.code, row[e.code], at)
    built = build_elements(row, lt, Issuer(department.name, department.uscc))
    _check_holder(built)
    new = issue_version(session, settings, built, department=department, license_type=lt,
                        version=next_version(prior.version), predecessor=predecessor,
                        operate_type=OP_TRANSFER_IN, at=at)
    session.flush()
    new_id = session.scalar(select(License.id).where(License.identifier == new.identifier))
    assert new_id is not None
    _record(session, [(new_id, new.identifier, new.data_hash)], action="transfer_in",
            operate_type=OP_TRANSFER_IN, from_status=[None], to_status="VALID",
            related=predecessor, actor=actor, reason=reason, at=at, event=False)  # fmt: skip
    return LifecycleResult("transfer_in", new.identifier, OP_TRANSFER_IN, "VALID",
                           predecessor, None)  # fmt: skip


# -- reading ---------------------------------------------------------------------------------


_MAX_VERSIONS = 999
"""A version is three digits (GB/T 36904): no chain is longer, whatever the links say."""


def _step(row: LicenseChange, identifier: str) -> dict[str, Any]:
    return {"identifier": identifier, "action": row.action, "operate_type": row.operate_type,
            "from_status": row.from_status, "to_status": row.to_status, "related": row.related,
            "actor": row.actor, "reason": row.reason, "at": row.at.isoformat()}


def chain(session: Session, identifier: str) -> list[dict[str, Any]]:
    """Every version of the license, whichever one ``identifier`` names: its predecessors and
    successors followed through their links (``predecessor``), oldest first, each with how it
    was issued, its status now, its lifecycle steps (oldest first) and ``asked`` set on the
    version asked for. A predecessor held by another registry (转入) is named by the first
    version's ``predecessor`` only."""
    lic = session.scalar(select(License).where(License.identifier == identifier))
    if lic is None:
        raise LifecycleError(_("no license with identifier {identifier}",
                               identifier=identifier))
    versions, seen = [lic], {lic.identifier}
    while versions[0].predecessor and len(versions) < _MAX_VERSIONS:
        before = session.scalar(select(License).where(
            License.identifier == versions[0].predecessor))
        if before is None or before.identifier in seen:
            break
        versions.insert(0, before)
        seen.add(before.identifier)
    frontier = [lic.identifier]
    while frontier and len(versions) < _MAX_VERSIONS:
        after = [v for v in session.scalars(select(License).where(
            License.predecessor.in_(frontier)).order_by(License.id)) if v.identifier not in seen]
        versions.extend(after)
        seen.update(v.identifier for v in after)
        frontier = [v.identifier for v in after]
    names = {v.id: v.identifier for v in versions}
    steps: dict[int, list[dict[str, Any]]] = {v.id: [] for v in versions}
    for row in session.scalars(select(LicenseChange).where(
            LicenseChange.license_id.in_(list(names))).order_by(LicenseChange.id)):
        steps[row.license_id].append(_step(row, names[row.license_id]))
    return [{"identifier": v.identifier, "version": v.version, "status": v.status,
             "signed_at": v.signed_at.isoformat(), "predecessor": v.predecessor,
             "batch_id": v.batch_id, "asked": v.identifier == identifier, "steps": steps[v.id]}
            for v in versions]


def history(session: Session, identifier: str) -> list[dict[str, Any]]:
    """Every lifecycle step of every version of the license (:func:`chain`), oldest first."""
    return [step for version in chain(session, identifier) for step in version["steps"]]
