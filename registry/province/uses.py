"""Our side of the platform's use log: what other offices used of our licenses (共享互认).

The platform logs every query and 核验 other offices make, with the caller, the use cause and
what was delivered; ``GET /api/v1/share/uses?since=&until=`` sums that log per issuing
department, license type and use cause. :func:`read_uses` reads one window of it into a
:class:`UseSummary` (checked field by field: a malformed answer is an
:class:`~registry.errors.AggregationError` naming the field, never a guess), and
:func:`use_reader` opens a client on the configured platform for the weekly bulletin.

Example::

    with use_reader(settings.province) as read:
        week = read(since=week.start, until=week.end)
        week.uses[0].department, week.uses[0].outcome, week.uses[0].uses
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from registry.config import ProvinceSettings
from registry.errors import AggregationError
from registry.i18n import _
from registry.province.client import ProvinceClient, open_client
from registry.province.wire import SHARE_USES_PATH

__all__ = [
    "LicenseCount",
    "RequestCount",
    "UseCount",
    "UseReader",
    "UseSummary",
    "parse_summary",
    "read_uses",
    "use_reader",
]


@dataclass(frozen=True)
class UseCount:
    """Items of the use log with the same department, type, cause, action and outcome."""

    department: str | None
    """The issuing department's USCC (None: the use found no license to say)."""
    type_code: str | None
    """The license type (None: a query by holder that named none and found none)."""
    cause: str
    """用证事由, as the caller stated it."""
    action: str
    """``query`` (by holder) or ``check`` (核验)."""
    outcome: str
    """SERVED, EMPTY (query); MATCH, MISMATCH, NOT_FOUND (核验)."""
    uses: int
    """How many items: one per license served or compared (one for a use that found none)."""


@dataclass(frozen=True)
class LicenseCount:
    """Distinct licenses used, per department and type."""

    department: str | None
    type_code: str | None
    licenses: int


@dataclass(frozen=True)
class RequestCount:
    """Uses (requests) per action and outcome."""

    action: str
    outcome: str
    requests: int


@dataclass(frozen=True)
class UseSummary:
    """One window of the platform's use log, summed."""

    since: dt.datetime | None
    """Start (inclusive); None: from the first use."""
    until: dt.datetime
    """End (exclusive)."""
    uses: tuple[UseCount, ...]
    licenses: tuple[LicenseCount, ...]
    requests: tuple[RequestCount, ...]


class UseReader(Protocol):
    """Reads one window of the use log (what the bulletin is given)."""

    def __call__(self, *, since: dt.datetime | None, until: dt.datetime) -> UseSummary: ...


def _field(row: Any, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(row, Mapping) or name not in row:
        raise AggregationError(_("the platform's use log answer: {where} has no {name!r}",
                                 where=where, name=name))
    value = row[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise AggregationError(_("the platform's use log answer: {where}.{name} is {value!r}, "
                                 "not what the interface defines", where=where, name=name,
                                 value=value))
    return value


def _rows(answer: Any, name: str) -> list[Any]:
    rows = _field(answer, name, list, "the answer")
    return list(rows)


_TEXT_OR_NONE = (str, type(None))


def parse_summary(answer: Any, *, since: dt.datetime | None, until: dt.datetime) -> UseSummary:
    """The platform's JSON answer as a :class:`UseSummary` (AggregationError if malformed)."""
    uses = tuple(
        UseCount(_field(r, "department", _TEXT_OR_NONE, f"uses[{i}]"),
                 _field(r, "typeCode", _TEXT_OR_NONE, f"uses[{i}]"),
                 _field(r, "useCause", str, f"uses[{i}]"), _field(r, "action", str, f"uses[{i}]"),
                 _field(r, "outcome", str, f"uses[{i}]"), _field(r, "uses", int, f"uses[{i}]"))
        for i, r in enumerate(_rows(answer, "uses")))
    licenses = tuple(
        LicenseCount(_field(r, "department", _TEXT_OR_NONE, f"licenses[{i}]"),
                     _field(r, "typeCode", _TEXT_OR_NONE, f"licenses[{i}]"),
                     _field(r, "licenses", int, f"licenses[{i}]"))
        for i, r in enumerate(_rows(answer, "licenses")))
    requests = tuple(
        RequestCount(_field(r, "action", str, f"requests[{i}]"),
                     _field(r, "outcome", str, f"requests[{i}]"),
                     _field(r, "requests", int, f"requests[{i}]"))
        for i, r in enumerate(_rows(answer, "requests")))
    return UseSummary(since=since, until=until, uses=uses, licenses=licenses, requests=requests)


def read_uses(client: ProvinceClient, *, since: dt.datetime | None,
              until: dt.datetime) -> UseSummary:
    """The platform's use log of ``[since, until)`` (authenticated, with the client's
    retries); :class:`AggregationError` when it cannot be read or is malformed."""
    params = {"until": until.astimezone(dt.UTC).isoformat()}
    if since is not None:
        params["since"] = since.astimezone(dt.UTC).isoformat()
    answer = client.get_json(SHARE_USES_PATH, params=params)
    return parse_summary(answer, since=since, until=until)


@contextmanager
def use_reader(province: ProvinceSettings, *, timeout: float = 30.0,
               attempts: int = 3) -> Iterator[UseReader | None]:
    """A reader of the configured platform's use log, or None when no platform is
    configured (``LICREG_PROVINCE_URL`` unset): the bulletin then says sharing is not
    measured rather than guess."""
    if not province.endpoint:
        yield None
        return
    with open_client(province.endpoint, access_id=province.access_id, secret=province.secret,
                     scheme=province.scheme, timeout=timeout, attempts=attempts) as client:
        def read(*, since: dt.datetime | None, until: dt.datetime) -> UseSummary:
            return read_uses(client, since=since, until=until)

        yield read
