"""The weekly dispatch (周调度、周排名、周通报): figures per department, ranking, bulletin.

::

    week.py      IsoWeek: ``2026-W48`` on the China calendar (Monday 00:00 Asia/Shanghai)
    figures.py   read the registry into frames; the figures per department (pure pandas)
    sharing.py   sharing and mutual recognition, from the provincial platform's use log
    ranking.py   weights (weights.toml), composite score, rank, movement, laggards
    deadline.py  the campaign's deadlines (campaign.toml): done, pace, projection, who is late
    trend.py     the figures of the last weeks side by side
    model.py     Bulletin: one week's bulletin, computed
    charts.py    inline SVG bar and line charts
    render.py    bulletin.html and the markdown artifact, in Chinese (English on request)
    exports.py   figures.csv, sharing.csv, trend.csv, figures.xlsx: numbers as numbers
    weekly.py    build_bulletin / write_bulletin / run_bulletin: what ``licreg bulletin`` and
                 the flow call

Example::

    with session_scope(engine) as session, use_reader(settings.province) as uses:
        bulletin = build_bulletin(session, IsoWeek.parse("2026-W48"), load_weights(),
                                  now=utc_now(), uses=uses)
    write_bulletin(bulletin, Path("bulletins/2026-W48"))
"""

from registry.bulletin.deadline import Campaign, load_campaign
from registry.bulletin.model import Bulletin
from registry.bulletin.ranking import Weights, load_weights
from registry.bulletin.render import markdown
from registry.bulletin.week import IsoWeek
from registry.bulletin.weekly import BULLETIN_FILES, build_bulletin, run_bulletin, write_bulletin

__all__ = [
    "BULLETIN_FILES",
    "Bulletin",
    "Campaign",
    "IsoWeek",
    "Weights",
    "build_bulletin",
    "load_campaign",
    "load_weights",
    "markdown",
    "run_bulletin",
    "write_bulletin",
]
