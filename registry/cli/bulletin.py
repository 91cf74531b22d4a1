"""``licreg bulletin``: the weekly figures, ranking and bulletin (周调度、周排名、周通报).

Writes ``bulletin.html``, ``figures.csv`` and ``figures.xlsx`` for one ISO week (default: the
last complete week on the China calendar) and prints the ranking and the paths written.
pandas is imported only when the command runs, so ``licreg`` itself stays quick to start.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from registry.bulletin.figures import DEPARTMENT, NAME
from registry.bulletin.ranking import (
    HELD_BACK_BY,
    INDICATOR_VALUE,
    MOVEMENT,
    POINTS_LOST,
    RANK,
    SCORE,
    indicator,
)
from registry.bulletin.render import moved, pct
from registry.bulletin.weekly import run_bulletin
from registry.cli._common import engine, handle_errors, now
from registry.config import Settings

if TYPE_CHECKING:
    from registry.bulletin import Bulletin

__all__ = ["bulletin", "ranking_lines"]


def ranking_lines(result: Bulletin) -> list[str]:
    """The ranking as the command prints it: the week, one line per department, laggards."""

    lines = [f"week {result.week} ({result.week.days()}, Asia/Shanghai); weights: "
             f"{result.weights.describe()}"]
    if not result.active:
        lines.append("no activity this week")
    lines.append("rank  move   score  department          name")
    lines.extend(f"{r[RANK]:>4}  {moved(r[MOVEMENT]):>4}  {r[SCORE]:6.1f}  {r[DEPARTMENT]}  "
                 f"{r[NAME]}" for r in result.ranking.to_dict("records"))
    for r in result.laggards.to_dict("records"):
        held = indicator(r[HELD_BACK_BY])
        lines.append(f"laggard {r[DEPARTMENT]} {r[NAME]}: held back by {held.key} "
                     f"({held.title}) {pct(r[INDICATOR_VALUE])}, "
                     f"{r[POINTS_LOST]:.1f} points lost")
    return lines


@click.command("bulletin")
@click.option("--week", "week_text", default=None,
              help="ISO week, e.g. 2026-W48 (default: the last complete week, Asia/Shanghai).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder to write into (default: $LICREG_HOME/bulletins/<week>).")
@click.option("--weights", "weights_file",
              type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="TOML weights of the ranking (default: the packaged weights.toml).")
@click.pass_obj
@handle_errors
def bulletin(settings: Settings, week_text: str | None, out: Path | None,
             weights_file: Path | None) -> None:
    """Weekly figures per department, ranking and bulletin (bulletin.html, figures.csv,
    figures.xlsx)."""

    result, paths = run_bulletin(engine(settings), home=settings.home, week=week_text, now=now(),
                                 weights_file=weights_file, out=out)
    click.echo("\n".join([*ranking_lines(result), *(f"wrote {p}" for p in paths)]))
