"""The weekly dispatch (周调度、周排名、周通报): figures per department, ranking, bulletin.

::

    week.py      IsoWeek: ``2026-W48`` on the China calendar (Monday 00:00 Asia/Shanghai)
    figures.py   read the registry into frames; the figures per department (pure pandas)
    ranking.py   weights (weights.toml), composite score, rank, movement, laggards
    render.py    bulletin.html (inline SVG charts), figures.csv, figures.xlsx, markdown
    weekly.py    build_bulletin / write_bulletin: what ``licreg bulletin`` and the flow call

Example::

    with session_scope(engine) as session:
        bulletin = build_bulletin(session, IsoWeek.parse("2026-W48"), load_weights())
    write_bulletin(bulletin, Path("bulletins/2026-W48"))
"""

from registry.bulletin.ranking import Weights, load_weights
from registry.bulletin.render import Bulletin, markdown
from registry.bulletin.week import IsoWeek
from registry.bulletin.weekly import BULLETIN_FILES, build_bulletin, run_bulletin, write_bulletin

__all__ = [
    "BULLETIN_FILES",
    "Bulletin",
    "IsoWeek",
    "Weights",
    "build_bulletin",
    "load_weights",
    "markdown",
    "run_bulletin",
    "write_bulletin",
]
