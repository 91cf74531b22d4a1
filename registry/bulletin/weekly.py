"""One week's bulletin, from the registry to the files: the one call the CLI and flow make.

::

    with session_scope(engine) as session:
        bulletin = build_bulletin(session, IsoWeek.parse("2026-W48"), load_weights())
    write_bulletin(bulletin, Path("out"))   # bulletin.html, figures.csv, figures.xlsx

The registry is read once (everything recorded before the week's end); this week's figures
and last week's (for the ranking's movement) are both computed from that read.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from registry.bulletin.figures import department_figures, had_activity, read_frames
from registry.bulletin.ranking import Weights, laggards, load_weights, rank
from registry.bulletin.render import Bulletin, render_html, write_csv, write_xlsx
from registry.bulletin.week import IsoWeek
from registry.db import session_scope

__all__ = ["BULLETIN_FILES", "build_bulletin", "bulletin_folder", "run_bulletin",
           "write_bulletin"]

BULLETIN_FILES = ("bulletin.html", "figures.csv", "figures.xlsx")
"""What :func:`write_bulletin` writes, in this order."""


def build_bulletin(session: Session, week: IsoWeek, weights: Weights) -> Bulletin:
    """Figures, ranking (with movement against the week before) and laggards of ``week``."""
    frames = read_frames(session, week)
    figures = department_figures(frames, week)
    ranked = rank(figures, weights, previous=department_figures(frames, week.previous()))
    return Bulletin(week=week, figures=figures, ranking=ranked,
                    laggards=laggards(ranked, weights), weights=weights,
                    active=had_activity(figures))


def write_bulletin(bulletin: Bulletin, out: Path) -> list[Path]:
    """Write :data:`BULLETIN_FILES` into ``out`` (created if needed); their paths."""
    out.mkdir(parents=True, exist_ok=True)
    html_path, csv_path, xlsx_path = (out / name for name in BULLETIN_FILES)
    html_path.write_text(render_html(bulletin), encoding="utf-8")
    return [html_path, write_csv(bulletin, csv_path), write_xlsx(bulletin, xlsx_path)]


def bulletin_folder(home: Path, week: IsoWeek) -> Path:
    """Where a week's bulletin goes by default: ``$LICREG_HOME/bulletins/<week>``."""
    return home / "bulletins" / str(week)


def run_bulletin(engine: Engine, *, home: Path, week: str | None, now: dt.datetime,
                 weights_file: Path | None = None,
                 out: Path | None = None) -> tuple[Bulletin, list[Path]]:
    """What ``licreg bulletin`` and the weekly flow do: ``week`` (``2026-W48``; None: the
    last complete week before ``now``) with the weights of ``weights_file`` (None: the
    packaged ones), written into ``out`` (None: :func:`bulletin_folder`)."""
    the_week = IsoWeek.parse(week) if week else IsoWeek.last_complete(now)
    weights = load_weights(weights_file)
    with session_scope(engine) as session:
        bulletin = build_bulletin(session, the_week, weights)
    return bulletin, write_bulletin(bulletin, out or bulletin_folder(home, the_week))
