"""The platform's sharing side (共享互认): licenses by holder, face-data checks, the use log.

Another office asks the platform instead of asking the citizen for paper (STANDARDS.md §5):
by holder code (and type), or by presenting the face data an applicant claims (核验). Every
use states a cause (用证事由) and is logged with the caller, the cause and the time.

>>> validate_cause("  办理食品经营许可变更  ")
'办理食品经营许可变更'
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from registry.errors import ShareRequestError
from registry.license.codes import HOLDER_ID_CARD, id_card_is_valid
from registry.mockprovince.store import SUPERSEDED, ReceivedLicense, UseLog, UseLogItem
from registry.mockprovince.uselog import Item, department_of

__all__ = [
    "MAX_CAUSE",
    "check_face_data",
    "log_use",
    "masked",
    "query_by_holder",
    "use_log",
    "validate_cause",
]

MAX_CAUSE = 200
"""Longest use cause accepted (the Shandong CertShare limit)."""


def validate_cause(cause: object) -> str:
    """The stated use cause, trimmed; :class:`ShareRequestError` when missing or too long."""
    if not isinstance(cause, str) or not cause.strip():
        raise ShareRequestError("useCause (用证事由) is required")
    cause = cause.strip()
    if len(cause) > MAX_CAUSE:
        raise ShareRequestError(f"useCause is longer than {MAX_CAUSE} characters")
    return cause


def masked(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored license as a caller outside its issuing department sees it: a natural person
    holder's name (CZZT, first character kept) and every GB 11643 ID number (first 6 and last
    4 kept) masked; ``masked`` lists the elements changed (the signature no longer covers
    them).

    >>> masked({"elements": {"CZZT": "王小明", "CZZTDMLXDM": "111",
    ...                      "CZZTDM": "11010519491231002X"}})["elements"]
    {'CZZT': '王**', 'CZZTDMLXDM': '111', 'CZZTDM': '110105********002X'}
    """
    elements = dict(stored["elements"])
    changed = []
    for key, value in elements.items():
        if isinstance(value, str) and len(value) == 18 and id_card_is_valid(value):
            elements[key] = value[:6] + "*" * 8 + value[-4:]
            changed.append(key)
    name = elements.get("CZZT")
    if elements.get("CZZTDMLXDM") == HOLDER_ID_CARD and isinstance(name, str) and name:
        elements["CZZT"] = name[0] + "*" * (len(name) - 1)
        changed.append("CZZT")
    return {**stored, "elements": elements, "masked": sorted(changed)}


def _summary(row: ReceivedLicense) -> dict[str, Any]:
    return {
        "ZZBS": row.identifier,
        "version": row.version,
        "status": row.status,
        "certState": row.cert_state,
        "elements": json.loads(row.record),
    }


def query_by_holder(
    session: Session, *, holder_code: str, type_code: str | None = None
) -> list[dict[str, Any]]:
    """The holder's current license versions (superseded versions left out), newest first."""
    if not holder_code:
        raise ShareRequestError("holderCode is required")
    query = select(ReceivedLicense).where(
        ReceivedLicense.holder_code == holder_code, ReceivedLicense.status != SUPERSEDED
    )
    if type_code:
        query = query.where(ReceivedLicense.type_code == type_code)
    rows = session.scalars(query.order_by(ReceivedLicense.id.desc()))
    return [_summary(r) for r in rows]


def check_face_data(
    session: Session,
    *,
    claimed: Mapping[str, object],
    identifier: str | None = None,
    type_code: str | None = None,
    number: str | None = None,
) -> dict[str, Any]:
    """核验: compare claimed face data with the current version, element by element.

    The license is found by ``identifier``, or by ``type_code`` + ``number`` (证照编号). Each
    claimed element is ``MATCH``, ``MISMATCH`` or ``MISSING`` (the license has no such
    element); the result is ``MATCH`` only when every one matches, ``NOT_FOUND`` when there is
    no such license. The license's status is reported alongside: a match of a suspended
    license is still a match of its data.
    """
    if not claimed:  # the server checks it is an object
        raise ShareRequestError("elements (the claimed face data) must be a non-empty object")
    query = select(ReceivedLicense)
    if identifier:
        query = query.where(ReceivedLicense.identifier == identifier)
    elif type_code and number:
        query = query.where(
            ReceivedLicense.type_code == type_code,
            ReceivedLicense.number == number,
            ReceivedLicense.status != SUPERSEDED,
        )
    else:
        raise ShareRequestError("give ZZBS, or typeCode and ZZBH")
    row = session.scalars(query.order_by(ReceivedLicense.id.desc()).limit(1)).first()
    if row is None:
        return {"result": "NOT_FOUND", "ZZBS": identifier, "elements": {}}
    elements = json.loads(row.record)
    verdicts = {
        code: "MISSING" if code not in elements else
        "MATCH" if str(elements[code]) == str(value) else "MISMATCH"
        for code, value in claimed.items()
    }  # fmt: skip
    result = "MATCH" if all(v == "MATCH" for v in verdicts.values()) else "MISMATCH"
    return {"result": result, "ZZBS": row.identifier, "status": row.status, "elements": verdicts}


def log_use(
    session: Session,
    *,
    access_id: str,
    action: str,
    cause: str,
    subject: str,
    result: str,
    at: dt.datetime,
    items: Sequence[Item] = (),
) -> None:
    """Record one use of the sharing side, and what it delivered (``items``: identifier,
    type code, outcome; see :mod:`registry.mockprovince.uselog`)."""
    use_id = session.scalar(
        insert(UseLog).values(access_id=access_id, action=action, cause=cause,
                              subject=subject[:200], result=result, at=at)
        .returning(UseLog.id))  # fmt: skip
    if items:
        session.execute(insert(UseLogItem), [
            {"use_id": use_id, "identifier": ident, "type_code": (type_code or "")[:21] or None,
             "department": department_of(ident), "outcome": outcome}
            for ident, type_code, outcome in items])  # fmt: skip


def use_log(
    session: Session, *, limit: int = 100, access_id: str | None = None
) -> list[dict[str, Any]]:
    """The latest uses, newest first; only ``access_id``'s when given."""
    query = select(UseLog).order_by(UseLog.id.desc()).limit(limit)
    if access_id is not None:
        query = query.where(UseLog.access_id == access_id)
    rows = session.scalars(query)
    return [
        {"accessId": r.access_id, "action": r.action, "useCause": r.cause, "subject": r.subject,
         "result": r.result, "at": r.at.isoformat()}
        for r in rows
    ]  # fmt: skip
