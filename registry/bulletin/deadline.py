"""The campaign's deadlines (攻坚时限): per department and task, how far, how fast, and when.

The city sets a date per task in a campaign file (the packaged ``campaign.toml`` beside
``weights.toml``, or ``licreg bulletin --campaign FILE``)::

    [deadlines]
    seals = 2027-03-31        # 电子印章申请、制作和授权: issued types an active seal covers
    templates = 2027-03-31    # 证照模板制作和绑定: issued types with a published template
    stock = 2027-06-30        # 存量证照数据电子化: unique licenses sealed of the declared stock

    [pace]
    weeks = 4                 # the pace is the progress of the last N weeks, per week

    [stock]                   # each department's declared stock (存量证照数), by USCC
    11330100MB1703218R = 60

For each department and task: what is **done** of the **total** (types issued; the declared
stock), the **pace** (units done in the last ``weeks`` weeks ÷ ``weeks``), the **projected**
date at that pace (from the week's last day, or today in a week not over) and a **status**:
``DONE``, ``ON_TRACK`` (projected by the deadline), ``LATE`` (projected after it), ``STALLED``
(no progress in the window: at this pace never), ``OVERDUE`` (the deadline has passed),
``UNKNOWN`` (no declared stock to measure against) or ``NONE`` (nothing to do: no types).
The bulletin names every department LATE, STALLED or OVERDUE.

>>> campaign = parse_campaign({"deadlines": {"stock": dt.date(2027, 6, 30)}}, "c.toml")
>>> campaign.deadlines["stock"], campaign.pace_weeks
(datetime.date(2027, 6, 30), 4)
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from registry.bulletin.figures import (
    DEPARTMENT,
    NAME,
    ROWS_SEALED,
    TEMPLATES_PUBLISHED,
    TYPES_ISSUED,
    TYPES_SEALABLE,
)
from registry.bulletin.week import IsoWeek
from registry.errors import ConfigError
from registry.i18n import N_, _, os_reason

__all__ = [
    "BEHIND",
    "DEFAULT_CAMPAIGN",
    "STATUS_TITLES",
    "TASKS",
    "Campaign",
    "Task",
    "deadline_figures",
    "load_campaign",
    "parse_campaign",
    "project",
]

DEFAULT_CAMPAIGN = Path(__file__).with_name("campaign.toml")
"""The packaged campaign (``licreg bulletin --campaign FILE`` replaces it)."""


@dataclass(frozen=True)
class Task:
    """One task of the campaign."""

    key: str
    """Its name in the campaign file."""
    done: str
    """The figures column counting what is done."""
    total: str | None
    """The figures column of the total (None: the declared stock of the campaign file)."""
    message: str
    """Its name in the bulletin (a message)."""
    unit: str
    """What its counts count (a message)."""

    @property
    def title(self) -> str:
        return _(self.message)


TASKS = (
    Task("seals", TYPES_SEALABLE, TYPES_ISSUED, N_("seals made and authorized"),
         N_("license types")),
    Task("templates", TEMPLATES_PUBLISHED, TYPES_ISSUED, N_("templates made and bound"),
         N_("license types")),
    Task("stock", ROWS_SEALED, None, N_("stock of licenses sealed"), N_("licenses")),
)
"""The campaign's tasks, in the bulletin's order."""
_BY_KEY = {t.key: t for t in TASKS}

STATUS_TITLES = {
    "DONE": N_("done"), "ON_TRACK": N_("on track"), "LATE": N_("will miss the deadline"),
    "STALLED": N_("no progress: will not finish at this pace"),
    "OVERDUE": N_("deadline passed, not done"), "UNKNOWN": N_("no declared stock"),
    "NONE": N_("nothing to do"),
}
"""Each status in words (translated where shown)."""
BEHIND = frozenset({"LATE", "STALLED", "OVERDUE"})
"""Statuses the bulletin names."""


@dataclass(frozen=True)
class Campaign:
    """Validated campaign settings."""

    source: str
    deadlines: Mapping[str, dt.date]
    """Task key → deadline (tasks without one are not tracked)."""
    pace_weeks: int = 4
    stock: Mapping[str, int] = field(default_factory=dict)
    """Department USCC → declared stock of licenses."""


def _date(source: str, key: str, value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(_("{source}: [deadlines].{key}: not a date like 2027-06-30: {value}",
                        source=source, key=key, value=repr(value)))


def parse_campaign(doc: Mapping[str, Any], source: str) -> Campaign:
    """Check a parsed campaign document; ConfigError naming ``source`` and the key if not."""
    for key in doc:
        if key not in ("deadlines", "pace", "stock"):
            raise ConfigError(_("{source}: unknown table {key}; a campaign file holds "
                                "[deadlines], [pace] and [stock]", source=source, key=repr(key)))
    deadlines = doc.get("deadlines", {})
    if not isinstance(deadlines, Mapping):
        raise ConfigError(_("{source}: [deadlines] must be a table of task = date",
                            source=source))
    for key in deadlines:
        if key not in _BY_KEY:
            raise ConfigError(_("{source}: [deadlines].{key}: unknown task; known: {known}",
                                source=source, key=key, known=", ".join(_BY_KEY)))
    pace = doc.get("pace", {})
    weeks = pace.get("weeks", 4) if isinstance(pace, Mapping) else None
    if isinstance(weeks, bool) or not isinstance(weeks, int) or not 1 <= weeks <= 52:
        raise ConfigError(_("{source}: [pace].weeks must be a whole number of weeks from 1 to "
                            "52, not {value}", source=source, value=repr(weeks)))
    stock = doc.get("stock", {})
    if not isinstance(stock, Mapping):
        raise ConfigError(_("{source}: [stock] must be a table of USCC = licenses",
                            source=source))
    for uscc, n in stock.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(_("{source}: [stock].{key}: the declared stock must be a whole "
                                "number ≥ 0, not {value}", source=source, key=uscc,
                                value=repr(n)))
    return Campaign(source=source,
                    deadlines={k: _date(source, k, v) for k, v in deadlines.items()},
                    pace_weeks=weeks, stock=dict(stock))


def load_campaign(path: Path | None = None) -> Campaign:
    """The campaign in ``path`` (default: the packaged :data:`DEFAULT_CAMPAIGN`)."""
    path = path or DEFAULT_CAMPAIGN
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(_("{path}: cannot read the campaign file: {reason}", path=str(path),
                            reason=os_reason(exc))) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(_("{path}: not a valid TOML campaign file: {reason}", path=str(path),
                            reason=str(exc))) from exc
    return parse_campaign(doc, str(path))


def project(done: float, total: float | None, pace: float, *, today: dt.date,
            deadline: dt.date) -> tuple[str, dt.date | None]:
    """(status, projected completion date) of one task; see the module docstring."""
    if total is None or math.isnan(total):
        return "UNKNOWN", None
    if total <= 0:
        return "NONE", None
    if done >= total:
        return "DONE", None
    if today > deadline:
        return "OVERDUE", None
    if pace <= 0:
        return "STALLED", None
    days = math.ceil((total - done) / pace * 7)
    projected = today + dt.timedelta(days=days)
    return ("ON_TRACK" if projected <= deadline else "LATE"), projected


def deadline_figures(by_week: Mapping[IsoWeek, pd.DataFrame], campaign: Campaign,
                     week: IsoWeek, *, today: dt.date) -> pd.DataFrame:
    """One row per department (DEPARTMENT, NAME) and per task with a deadline the columns
    ``<task>_done``, ``_total``, ``_share``, ``_pace`` (per week), ``_projected`` (a date or
    None), ``_deadline`` and ``_status``. ``by_week`` holds the figures of ``week`` and, where
    the registry has them, of the weeks before (a week missing counts as nothing done)."""
    now = by_week[week].set_index(DEPARTMENT)
    then_week = week
    for _step in range(campaign.pace_weeks):
        then_week = then_week.previous()
    then = by_week.get(then_week)
    out = now[[NAME]].copy()
    for task in TASKS:
        deadline = campaign.deadlines.get(task.key)
        if deadline is None:
            continue
        done = now[task.done].astype(float)
        before = (then.set_index(DEPARTMENT)[task.done].reindex(now.index).fillna(0.0)
                  .astype(float) if then is not None else pd.Series(0.0, index=now.index))
        if task.total is not None:
            total = now[task.total].astype(float)
        else:
            total = pd.Series([float(campaign.stock[u]) if u in campaign.stock else float("nan")
                               for u in now.index], index=now.index)
        pace = (done - before) / campaign.pace_weeks
        results = [project(d, t, p, today=today, deadline=deadline)
                   for d, t, p in zip(done, total, pace, strict=True)]
        out[f"{task.key}_done"] = done.astype(int)
        out[f"{task.key}_total"] = total
        out[f"{task.key}_share"] = (done / total.where(total > 0)).clip(upper=1.0)
        out[f"{task.key}_pace"] = pace
        out[f"{task.key}_projected"] = [r[1] for r in results]
        out[f"{task.key}_deadline"] = deadline
        out[f"{task.key}_status"] = [r[0] for r in results]
    return out.reset_index()
