"""The platform's use log, read side: what other offices used, by department, type and cause.

Every use of the sharing side (a query by holder, a 核验 of claimed face data) is logged with
its caller, cause and time (:func:`registry.mockprovince.sharing.log_use`), and with one
:class:`~registry.mockprovince.store.UseLogItem` per license it delivered: each license a
query returned (``SERVED``), the license a 核验 compared (``MATCH`` / ``MISMATCH``), or, when
nothing was found, one row naming what was asked (``EMPTY`` for a query, ``NOT_FOUND`` for a
核验). An item knows its license type and its issuing department (the issuer part of the
GB/T 36904 identifier), so the log can be summed per department, type and use cause: what
``GET /api/v1/share/uses`` serves and the city's weekly bulletin reads.

>>> department_of("1.2.156.3005.2.11100000MB0143028R001.11330100MB1703218R.E51B.001.C")
'11330100MB1703218R'
>>> query_items([], type_code="11100000MB0143028R001")
[(None, '11100000MB0143028R001', 'EMPTY')]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.errors import ShareRequestError
from registry.license.codes import LICENSE_ROOT
from registry.mockprovince.store import UseLog, UseLogItem

__all__ = [
    "EMPTY",
    "FOUND",
    "MATCH",
    "MISMATCH",
    "NOT_FOUND",
    "OUTCOMES",
    "SERVED",
    "Item",
    "check_items",
    "department_of",
    "parse_window",
    "query_items",
    "summary",
    "type_of",
]

SERVED = "SERVED"
"""A query returned this license."""
EMPTY = "EMPTY"
"""A query returned no license."""
MATCH = "MATCH"
MISMATCH = "MISMATCH"
NOT_FOUND = "NOT_FOUND"
OUTCOMES = (SERVED, EMPTY, MATCH, MISMATCH, NOT_FOUND)
FOUND = (SERVED, MATCH, MISMATCH)
"""Outcomes of an item that names a license the platform holds."""

Item = tuple[str | None, str | None, str]
"""(identifier, type code, outcome) of one use-log item."""

_PREFIX = LICENSE_ROOT + "."


def _parts(identifier: str | None) -> list[str] | None:
    if not identifier or not identifier.startswith(_PREFIX):
        return None
    parts = identifier[len(_PREFIX):].split(".")
    return parts if len(parts) == 5 else None


def department_of(identifier: str | None) -> str | None:
    """The issuer USCC of a GB/T 36904 identifier (a plain split), or None."""
    parts = _parts(identifier)
    return parts[1] if parts is not None and len(parts[1]) == 18 else None


def type_of(identifier: str | None) -> str | None:
    """The license type code of a GB/T 36904 identifier, or None."""
    parts = _parts(identifier)
    return parts[0] if parts is not None and len(parts[0]) == 21 else None


def query_items(found: Sequence[Mapping[str, Any]], *, type_code: str | None) -> list[Item]:
    """The items of a query answered with ``found`` (license summaries with ``ZZBS``)."""
    if not found:
        return [(None, type_code, EMPTY)]
    return [(lic["ZZBS"], type_of(lic["ZZBS"]) or type_code, SERVED) for lic in found]


def check_items(result: Mapping[str, Any], *, identifier: str | None,
                type_code: str | None) -> list[Item]:
    """The one item of a 核验 answered with ``result``: the license compared, or what was
    named when there was none."""
    ident = result.get("ZZBS") or identifier
    return [(ident, type_of(ident) or type_code, str(result["result"]))]


def parse_window(since: str | None, until: str | None) -> tuple[dt.datetime | None,
                                                                 dt.datetime | None]:
    """``since`` and ``until`` query parameters (ISO 8601 with a zone) as aware times;
    :class:`ShareRequestError` naming the parameter when one is not."""
    out: list[dt.datetime | None] = []
    for name, text in (("since", since), ("until", until)):
        if text is None or text == "":
            out.append(None)
            continue
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise ShareRequestError(f"{name} is not an ISO 8601 time: {text!r}") from exc
        if value.tzinfo is None:
            raise ShareRequestError(f"{name} needs a time zone (e.g. +00:00): {text!r}")
        out.append(value.astimezone(dt.UTC))
    if out[0] is not None and out[1] is not None and out[0] > out[1]:
        raise ShareRequestError("since is after until")
    return out[0], out[1]


def summary(session: Session, *, since: dt.datetime | None, until: dt.datetime | None,
            now: dt.datetime) -> dict[str, Any]:
    """The uses logged in ``[since, until)``, summed (``since`` None: from the first;
    ``until`` None: every use logged so far, the answer saying ``now``).

    - ``uses``: items per department, type, use cause, action and outcome;
    - ``licenses``: distinct licenses used (served or compared) per department and type;
    - ``requests``: uses (requests) per action and outcome (a query that returned several
      licenses is one request, SERVED).
    """
    window = [UseLog.at < until] if until is not None else []
    if since is not None:
        window.append(UseLog.at >= since)
    item, use = UseLogItem, UseLog
    uses = session.execute(
        select(item.department, item.type_code, use.cause, use.action, item.outcome,
               func.count())
        .join(use, use.id == item.use_id).where(*window)
        .group_by(item.department, item.type_code, use.cause, use.action, item.outcome)
        .order_by(item.department, item.type_code, use.cause, use.action, item.outcome))
    licenses = session.execute(
        select(item.department, item.type_code, func.count(func.distinct(item.identifier)))
        .join(use, use.id == item.use_id)
        .where(*window, item.outcome.in_(FOUND))
        .group_by(item.department, item.type_code)
        .order_by(item.department, item.type_code))
    requests = session.execute(
        select(use.action, item.outcome, func.count(func.distinct(use.id)))
        .join(use, use.id == item.use_id).where(*window)
        .group_by(use.action, item.outcome).order_by(use.action, item.outcome))
    return {
        "since": since.isoformat() if since is not None else None,
        "until": (until or now).isoformat(),
        "uses": [{"department": d, "typeCode": t, "useCause": c, "action": a, "outcome": o,
                  "uses": n} for d, t, c, a, o, n in uses],
        "licenses": [{"department": d, "typeCode": t, "licenses": n} for d, t, n in licenses],
        "requests": [{"action": a, "outcome": o, "requests": n} for a, o, n in requests],
    }
