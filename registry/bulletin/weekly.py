"""One week's bulletin, from the registry and the platform's use log to the files: the one
call the CLI and the flow make.

::

    with session_scope(engine) as session, use_reader(settings.province) as uses:
        bulletin = build_bulletin(session, IsoWeek.parse("2026-W48"), load_weights(),
                                  now=utc_now(), uses=uses, campaign=load_campaign())
    write_bulletin(bulletin, Path("out"))   # bulletin.html, figures.csv, figures.xlsx …

The registry is read once (everything recorded before the week's end); this week's figures,
last week's (for the movement), those of the weeks of the trend and of the pace are all
computed from that read. The platform's use log is read once per week shown, and once for
the total.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from registry.bulletin.deadline import Campaign, deadline_figures, load_campaign
from registry.bulletin.exports import write_csv, write_sharing_csv, write_trend_csv, write_xlsx
from registry.bulletin.figures import (
    TYPE_CODE,
    TYPE_NAME,
    RegistryFrames,
    department_figures,
    first_record,
    read_frames,
)
from registry.bulletin.model import Bulletin, SharingTables
from registry.bulletin.ranking import Weights, laggards, load_weights, rank
from registry.bulletin.render import render_html
from registry.bulletin.sharing import (
    CAUSE,
    TOTAL,
    SharingFrames,
    city_sharing,
    read_sharing,
    sharing_by,
    sharing_detail,
    was_active,
    with_sharing,
)
from registry.bulletin.trend import trend_frame, trend_weeks
from registry.bulletin.week import IsoWeek
from registry.clock import china_day
from registry.config import ProvinceSettings
from registry.db import session_scope
from registry.errors import ConfigError
from registry.i18n import _
from registry.province.uses import UseReader, use_reader

__all__ = ["BULLETIN_FILES", "build_bulletin", "bulletin_folder", "run_bulletin",
           "write_bulletin"]

BULLETIN_FILES = ("bulletin.html", "figures.csv", "figures.xlsx", "sharing.csv", "trend.csv")
"""What :func:`write_bulletin` writes, in this order (``sharing.csv`` only when the
platform's use log was read)."""


def _sharing_tables(sharing: SharingFrames, frames: RegistryFrames, week: IsoWeek,
                    type_names: dict[str, str]) -> SharingTables:
    return SharingTables(
        week=city_sharing(sharing, str(week)) or {}, total=city_sharing(sharing, TOTAL) or {},
        by_type=sharing_by(sharing, TYPE_CODE, week, names=type_names),
        by_cause=sharing_by(sharing, CAUSE, week), detail=sharing_detail(sharing, frames, week))


def build_bulletin(session: Session, week: IsoWeek, weights: Weights, *, now: dt.datetime,
                   uses: UseReader | None = None,
                   campaign: Campaign | None = None) -> Bulletin:
    """Figures, ranking (with movement against the week before), laggards, sharing,
    deadlines and trend of ``week``, as of ``now`` (a week not over yet is marked partial; a
    week not begun is a ConfigError). ``uses`` reads the platform's use log (None: sharing is
    not measured and leaves the score)."""
    if now < week.start:
        raise ConfigError(_("week {week} has not begun yet: it starts {start}", week=str(week),
                            start=week.monday.isoformat()))
    campaign = campaign or load_campaign()
    as_of = min(now, week.end)
    frames = read_frames(session, week)
    weeks = trend_weeks(week, first_record(frames))
    pace_from = week
    for _step in range(campaign.pace_weeks):
        pace_from = pace_from.previous()
    needed = sorted({*weeks, week.previous(), pace_from})
    sharing = (read_sharing(uses, needed, week, until=as_of) if uses is not None else None)
    by_week = {w: with_sharing(department_figures(frames, w), frames, sharing, w)
               for w in needed}
    used = weights
    if sharing is None and weights.values.get("sharing", 0) > 0:
        used = weights.without("sharing")
    figures = by_week[week]
    active, previous_active = was_active(figures), was_active(by_week[week.previous()])
    ranked = rank(figures, used, previous=by_week[week.previous()] if previous_active else None)
    lagging = laggards(ranked, used) if active else laggards(ranked.iloc[0:0], used)
    today = china_day(as_of - dt.timedelta(microseconds=1))
    type_names = dict(zip(frames.department_types[TYPE_CODE],
                          frames.department_types[TYPE_NAME], strict=True))
    return Bulletin(
        week=week, figures=figures, ranking=ranked, laggards=lagging, weights=used,
        active=active, previous_active=previous_active, as_of=as_of, partial=now < week.end,
        sharing=(_sharing_tables(sharing, frames, week, type_names)
                 if sharing is not None else None),
        deadlines=deadline_figures(by_week, campaign, week, today=today), campaign=campaign,
        trend=trend_frame(by_week, weeks, used))


def write_bulletin(bulletin: Bulletin, out: Path) -> list[Path]:
    """Write :data:`BULLETIN_FILES` into ``out`` (created if needed); their paths."""
    out.mkdir(parents=True, exist_ok=True)
    html_path, csv_path, xlsx_path, sharing_path, trend_path = (out / n for n in BULLETIN_FILES)
    html_path.write_text(render_html(bulletin), encoding="utf-8")
    written = [html_path, write_csv(bulletin, csv_path), write_xlsx(bulletin, xlsx_path)]
    if bulletin.sharing is not None:
        written.append(write_sharing_csv(bulletin, sharing_path))
    written.append(write_trend_csv(bulletin, trend_path))
    return written


def bulletin_folder(home: Path, week: IsoWeek) -> Path:
    """Where a week's bulletin goes by default: ``$LICREG_HOME/bulletins/<week>``."""
    return home / "bulletins" / str(week)


def run_bulletin(engine: Engine, *, home: Path, week: str | None, now: dt.datetime,
                 weights_file: Path | None = None, campaign_file: Path | None = None,
                 province: ProvinceSettings | None = None,
                 out: Path | None = None) -> tuple[Bulletin, list[Path]]:
    """What ``licreg bulletin`` and the weekly flow do: ``week`` (``2026-W48``; None: the
    last complete week before ``now``) with the weights of ``weights_file`` and the campaign
    of ``campaign_file`` (None: the packaged ones), the sharing figures from the use log of
    ``province`` (None or no endpoint: not measured), written into ``out`` (None:
    :func:`bulletin_folder`)."""
    the_week = IsoWeek.parse(week) if week else IsoWeek.last_complete(now)
    weights = load_weights(weights_file)
    campaign = load_campaign(campaign_file)
    with session_scope(engine) as session, \
            use_reader(province or ProvinceSettings()) as uses:  # fmt: skip
        bulletin = build_bulletin(session, the_week, weights, now=now, uses=uses,
                                  campaign=campaign)
    return bulletin, write_bulletin(bulletin, out or bulletin_folder(home, the_week))

