"""Sharing and mutual recognition (共享互认) per department, from the platform's use log.

The figures come from the provincial platform's own log of what other offices asked
(:mod:`registry.province.uses`, ``GET /api/v1/share/uses``), never from the registry's
guesses. Each item of that log is one license a query returned (``SERVED``) or a 核验
compared (``MATCH`` / ``MISMATCH``), or a use that found nothing (``EMPTY`` query,
``NOT_FOUND`` 核验).

Rules (docs/DECISIONS.md, "Sharing"):

- **A submission avoided** (减少提交材料) is a successful use: a license served to a query or
  confirmed by a 核验 stands in for the paper copy the applicant would otherwise bring, one
  paper per license.
- **A use is the issuing department's** (the issuer in the license identifier). A 核验 that
  found no license counts against the department whose identifier it named, or, named by type
  and 证照编号, the one department issuing that type; a query by holder that found nothing is
  nobody's failure (the holder may have no such license) and counts city-wide only.
- **The sharing indicator** is the share of the week's uses of a department's licenses that
  were delivered (served or confirmed): its data reached the office that needed it.

Without a platform to ask (none configured), every sharing figure is empty (NA), and the
ranking leaves the indicator out rather than count it 0 for everybody.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from registry.bulletin.figures import (
    DEPARTMENT,
    DEPARTMENT_ID,
    NAME,
    TYPE_CODE,
    TYPE_NAME,
    WEEK_COLUMNS,
    RegistryFrames,
)
from registry.bulletin.week import IsoWeek
from registry.province.uses import UseReader, UseSummary

__all__ = [
    "ACTION",
    "CAUSE",
    "FAILED",
    "FAILURES",
    "LICENSES",
    "OUTCOME",
    "REQUESTS",
    "SHARED_AVOIDED",
    "SHARED_AVOIDED_WEEK",
    "SHARED_FAILED_WEEK",
    "SHARED_LICENSES",
    "SHARED_LICENSES_WEEK",
    "SHARED_USES",
    "SHARED_USES_WEEK",
    "SHARE_SUCCESS",
    "SHARING_COLUMNS",
    "SUCCESSES",
    "TOTAL",
    "USES",
    "WINDOW",
    "SharingFrames",
    "city_sharing",
    "read_sharing",
    "sharing_by",
    "sharing_detail",
    "sharing_frames",
    "was_active",
    "with_sharing",
]

WINDOW = "window"
"""Which read a row comes from: a week (``2026-W48``) or :data:`TOTAL`."""
TOTAL = "total"
"""The window from the first use to the bulletin week's end."""
CAUSE = "cause"
ACTION = "action"
OUTCOME = "outcome"
USES = "uses"
LICENSES = "licenses"
REQUESTS = "requests"
FAILED = "failed"
SUCCESSES = frozenset({"SERVED", "MATCH"})
"""Outcomes that stand in for a paper copy."""
FAILURES = frozenset({"MISMATCH", "NOT_FOUND"})
"""Outcomes where the office had to ask the applicant after all (attributable ones)."""

SHARED_USES_WEEK = "shared_uses_week"
"""Uses of the department's licenses by other offices in the week (delivered or not)."""
SHARED_AVOIDED_WEEK = "shared_avoided_week"
"""Of those, delivered: each a paper copy the applicant did not have to submit."""
SHARED_FAILED_WEEK = "shared_failed_week"
"""Of those, not delivered: 核验 mismatches and licenses not found."""
SHARED_LICENSES_WEEK = "shared_licenses_week"
"""Distinct licenses of the department used in the week."""
SHARED_USES = "shared_uses"
"""Uses by the week's end, since the first."""
SHARED_AVOIDED = "shared_avoided"
"""Submissions avoided by the week's end."""
SHARED_LICENSES = "shared_licenses"
"""Distinct licenses used by the week's end."""
SHARE_SUCCESS = "share_success"
"""shared_avoided_week / shared_uses_week: the sharing indicator."""
SHARING_COLUMNS = (SHARED_USES_WEEK, SHARED_AVOIDED_WEEK, SHARED_FAILED_WEEK,
                   SHARED_LICENSES_WEEK, SHARED_USES, SHARED_AVOIDED, SHARED_LICENSES,
                   SHARE_SUCCESS)
"""The sharing columns :func:`with_sharing` adds, in order."""
_COUNTS = SHARING_COLUMNS[:-1]


@dataclass(frozen=True)
class SharingFrames:
    """The platform's use log, one read per window (a week, or :data:`TOTAL`)."""

    uses: pd.DataFrame
    """WINDOW, DEPARTMENT (USCC or None), TYPE_CODE, CAUSE, ACTION, OUTCOME, USES."""
    licenses: pd.DataFrame
    """WINDOW, DEPARTMENT, TYPE_CODE, LICENSES (distinct licenses used)."""
    requests: pd.DataFrame
    """WINDOW, ACTION, OUTCOME, REQUESTS."""
    windows: tuple[str, ...]
    """The windows read."""


def sharing_frames(summaries: Mapping[str, UseSummary]) -> SharingFrames:
    """Frames of use-log summaries keyed by window (pure)."""
    uses = [(w, u.department, u.type_code, u.cause, u.action, u.outcome, u.uses)
            for w, s in summaries.items() for u in s.uses]
    licenses = [(w, c.department, c.type_code, c.licenses)
                for w, s in summaries.items() for c in s.licenses]
    requests = [(w, r.action, r.outcome, r.requests)
                for w, s in summaries.items() for r in s.requests]
    return SharingFrames(
        uses=pd.DataFrame(uses, columns=[WINDOW, DEPARTMENT, TYPE_CODE, CAUSE, ACTION, OUTCOME,
                                         USES]),
        licenses=pd.DataFrame(licenses, columns=[WINDOW, DEPARTMENT, TYPE_CODE, LICENSES]),
        requests=pd.DataFrame(requests, columns=[WINDOW, ACTION, OUTCOME, REQUESTS]),
        windows=tuple(summaries))


def read_sharing(read: UseReader, weeks: Sequence[IsoWeek], week: IsoWeek, *,
                 until: dt.datetime | None = None) -> SharingFrames:
    """Read each of ``weeks`` and the total up to ``week``'s end (or ``until``, for a week
    not over yet) from the platform."""
    end = until or week.end
    summaries = {str(w): read(since=w.start, until=min(w.end, end)) for w in weeks}
    summaries[TOTAL] = read(since=None, until=end)
    return sharing_frames(summaries)


def _attributed(uses: pd.DataFrame, frames: RegistryFrames) -> pd.DataFrame:
    """``uses`` with the USCC of the department each counts for (None: nobody's)."""
    issuers = frames.department_types.merge(frames.departments, on=DEPARTMENT_ID)
    counted = issuers.groupby(TYPE_CODE)[DEPARTMENT].agg(["first", "size"])
    only = counted.loc[counted["size"] == 1, "first"]
    known = set(frames.departments[DEPARTMENT])
    by_type = uses[TYPE_CODE].map(only)
    who = uses[DEPARTMENT].where(uses[DEPARTMENT].isin(known))
    unnamed = who.isna() & (uses[OUTCOME] == "NOT_FOUND")
    return uses.assign(**{DEPARTMENT: who.where(~unnamed, by_type)})


def _window(frame: pd.DataFrame, window: str) -> pd.DataFrame:
    return frame[frame[WINDOW] == window]


def _counts(uses: pd.DataFrame, licenses: pd.DataFrame, suffix: str) -> pd.DataFrame:
    ok = uses[OUTCOME].isin(SUCCESSES)
    bad = uses[OUTCOME].isin(FAILURES)
    by = uses[DEPARTMENT]
    n = uses[USES]
    out = pd.DataFrame({
        f"shared_uses{suffix}": n.where(ok | bad, 0).groupby(by).sum(),
        f"shared_avoided{suffix}": n.where(ok, 0).groupby(by).sum(),
    })
    if suffix:
        out[f"shared_failed{suffix}"] = n.where(bad, 0).groupby(by).sum()
    out[f"shared_licenses{suffix}"] = licenses.groupby(DEPARTMENT)[LICENSES].sum()
    return out


def with_sharing(figures: pd.DataFrame, frames: RegistryFrames, sharing: SharingFrames | None,
                 week: IsoWeek) -> pd.DataFrame:
    """``figures`` (one row per department) with :data:`SHARING_COLUMNS`: counts 0 where the
    platform logged nothing, all NA without a platform or a read of this week."""
    out = figures.copy()
    if sharing is None or str(week) not in sharing.windows:
        for column in _COUNTS:
            out[column] = pd.array([pd.NA] * len(out), dtype="Int64")
        out[SHARE_SUCCESS] = float("nan")
        return out
    uses = _attributed(sharing.uses, frames)
    licenses = _attributed(sharing.licenses.assign(**{OUTCOME: "SERVED"}), frames)
    parts = pd.concat([
        _counts(_window(uses, str(week)), _window(licenses, str(week)), "_week"),
        _counts(_window(uses, TOTAL), _window(licenses, TOTAL), ""),
    ], axis=1)
    joined = out[[DEPARTMENT]].join(parts, on=DEPARTMENT)
    for column in _COUNTS:
        out[column] = joined[column].fillna(0).astype("Int64")
    total = out[SHARED_USES_WEEK].astype(float)
    out[SHARE_SUCCESS] = out[SHARED_AVOIDED_WEEK].astype(float) / total.where(total > 0)
    return out


def was_active(figures: pd.DataFrame) -> bool:
    """Whether anything happened in the week: a department's step (figures.WEEK_COLUMNS) or
    another office's use of a department's license."""
    steps = figures[list(WEEK_COLUMNS)].to_numpy().sum() > 0
    uses = SHARED_USES_WEEK in figures and figures[SHARED_USES_WEEK].fillna(0).sum() > 0
    return bool(steps or uses)


def city_sharing(sharing: SharingFrames | None, window: str) -> dict[str, int] | None:
    """City-wide counts of one window: ``queries`` and ``checks`` (requests), ``uses``
    (items), ``avoided`` (delivered), ``failed`` (not delivered, empty queries included);
    None without a read of that window."""
    if sharing is None or window not in sharing.windows:
        return None
    uses, requests = _window(sharing.uses, window), _window(sharing.requests, window)
    return {
        "queries": int(requests.loc[requests[ACTION] == "query", REQUESTS].sum()),
        "checks": int(requests.loc[requests[ACTION] == "check", REQUESTS].sum()),
        "uses": int(uses[USES].sum()),
        "avoided": int(uses.loc[uses[OUTCOME].isin(SUCCESSES), USES].sum()),
        "failed": int(uses.loc[~uses[OUTCOME].isin(SUCCESSES), USES].sum()),
    }


def sharing_by(sharing: SharingFrames, key: str, week: IsoWeek,
               names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """City-wide uses by ``key`` (TYPE_CODE or CAUSE): USES, SUCCESS (avoided), FAILED for
    the week, and USES / avoided in total; most used in total first. ``names`` adds a
    TYPE_NAME column (type code → name)."""
    rows = []
    for window, suffix in ((str(week), "_week"), (TOTAL, "_total")):
        part = _window(sharing.uses, window)
        ok = part[OUTCOME].isin(SUCCESSES)
        by = part[key].fillna("")
        rows.append(pd.DataFrame({
            f"uses{suffix}": part[USES].groupby(by).sum(),
            f"avoided{suffix}": part[USES].where(ok, 0).groupby(by).sum(),
            f"failed{suffix}": part[USES].where(~ok, 0).groupby(by).sum(),
        }))
    out = pd.concat(rows, axis=1).fillna(0).astype(int)
    out = out.sort_values(["uses_total", "uses_week"], ascending=False, kind="mergesort")
    out = out.rename_axis(key).reset_index()
    if names is not None:
        out.insert(1, TYPE_NAME, out[key].map(names).fillna(""))
    return out


def sharing_detail(sharing: SharingFrames, frames: RegistryFrames,
                   week: IsoWeek) -> pd.DataFrame:
    """The long table of ``sharing.csv``: per department (as attributed; empty: nobody's),
    type, cause, action and outcome, the uses in the week and in total."""
    uses = _attributed(sharing.uses, frames)
    keys = [DEPARTMENT, TYPE_CODE, CAUSE, ACTION, OUTCOME]
    week_uses = _window(uses, str(week)).fillna({DEPARTMENT: "", TYPE_CODE: ""})
    total = _window(uses, TOTAL).fillna({DEPARTMENT: "", TYPE_CODE: ""})
    out = (total.groupby(keys)[USES].sum().rename("uses_total").to_frame()
           .join(week_uses.groupby(keys)[USES].sum().rename("uses_week"), how="outer")
           .fillna(0).astype(int).reset_index())
    names = dict(zip(frames.departments[DEPARTMENT], frames.departments[NAME], strict=True))
    out.insert(1, NAME, out[DEPARTMENT].map(names).fillna(""))
    return out[[DEPARTMENT, NAME, TYPE_CODE, CAUSE, ACTION, OUTCOME, "uses_week", "uses_total"]]
