"""``licreg bulletin``: the weekly figures, ranking and bulletin (周调度、周排名、周通报).

Writes ``bulletin.html``, ``figures.csv``, ``figures.xlsx``, ``sharing.csv`` (when the
provincial platform's use log was read: ``LICREG_PROVINCE_URL``) and ``trend.csv`` for one ISO
week (default: the last complete week on the China calendar) and prints the ranking, the
departments behind the campaign's deadlines and the paths written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from registry.bulletin.charts import missing, pct
from registry.bulletin.deadline import BEHIND, STATUS_TITLES, TASKS
from registry.bulletin.figures import DEPARTMENT, NAME
from registry.bulletin.ranking import (
    HELD_BACK_BY,
    INDICATOR_VALUE,
    MOVEMENT,
    POINTS_LOST,
    PREVIOUS_RANK,
    RANK,
    SCORE,
    indicator,
)
from registry.bulletin.render import behind_lines, moved, warning
from registry.bulletin.weekly import run_bulletin
from registry.cli._common import echo_json, engine, handle_errors, now
from registry.config import Settings
from registry.i18n import _

if TYPE_CHECKING:
    from registry.bulletin import Bulletin

__all__ = ["bulletin", "bulletin_json", "ranking_lines"]


def ranking_lines(result: Bulletin) -> list[str]:
    """The ranking as the command prints it: the week, one line per department, laggards,
    the departments behind the deadlines."""
    lines = [_("week {week} ({days}, Asia/Shanghai); weights: {weights}", week=str(result.week),
               days=result.week.days(), weights=result.weights.describe())]
    warn = warning(result)
    if warn:
        lines.append(warn)
    if not result.active:
        lines.append(_("no activity this week: nobody is placed or named"))
    if result.sharing is None:
        lines.append(_("sharing not measured: no provincial platform configured "
                       "(LICREG_PROVINCE_URL)"))
    lines.append(_("rank  move   score  department          name"))
    for r in result.ranking.to_dict("records"):
        place = str(r[RANK]) if result.ranked else "—"
        move = moved(r[MOVEMENT], ranked_before=result.ranked and result.previous_active)
        lines.append(f"{place:>4}  {move:>4}  {r[SCORE]:6.1f}  {r[DEPARTMENT]}  {r[NAME]}")
    for r in result.laggards.to_dict("records"):
        held = indicator(r[HELD_BACK_BY])
        lines.append(_("laggard {uscc} {name}: held back by {key} ({title}) {value}, {lost} "
                       "points lost", uscc=r[DEPARTMENT], name=r[NAME], key=held.key,
                       title=held.title, value=pct(r[INDICATOR_VALUE]),
                       lost=format(r[POINTS_LOST], ".1f")))
    lines.extend(_("behind: {line}", line=line) for line in behind_lines(result))
    return lines


def _plain(value: Any) -> Any:
    """A cell as JSON has it: None for nothing to measure, numbers as Python numbers."""
    if missing(value):
        return None
    return value.item() if hasattr(value, "item") else value


def bulletin_json(result: Bulletin, paths: list[Path]) -> dict[str, Any]:
    """What ``licreg bulletin --json`` prints: the ranking, the laggards and the departments
    behind the deadlines with their codes (indicator keys, deadline statuses) beside the words,
    and the files written."""
    ranking = [{"department": r[DEPARTMENT], "name": r[NAME],
                "rank": _plain(r[RANK]) if result.ranked else None,
                "previous_rank": _plain(r[PREVIOUS_RANK]), "movement": _plain(r[MOVEMENT]),
                "score": round(float(r[SCORE]), 1)} for r in result.ranking.to_dict("records")]
    laggards = [{"department": r[DEPARTMENT], "name": r[NAME], "held_back_by": r[HELD_BACK_BY],
                 "held_back_by_text": indicator(r[HELD_BACK_BY]).title,
                 "indicator_value": _plain(r[INDICATOR_VALUE]),
                 "points_lost": round(float(r[POINTS_LOST]), 1)}
                for r in result.laggards.to_dict("records")]
    rows = [] if result.deadlines is None else result.deadlines.to_dict("records")
    behind = [{"department": r[DEPARTMENT], "name": r[NAME], "task": t.key,
               "task_text": t.title, "status": r[f"{t.key}_status"],
               "status_text": _(STATUS_TITLES[r[f"{t.key}_status"]]),
               "share": _plain(r[f"{t.key}_share"])}
              for r in rows for t in TASKS if r.get(f"{t.key}_status") in BEHIND]
    return {"week": str(result.week), "days": result.week.days(), "partial": result.partial,
            "warning": warning(result), "active": result.active,
            "sharing_measured": result.sharing is not None,
            "weights": {k: v for k, v in result.weights.values.items() if v},
            "ranking": ranking, "laggards": laggards, "behind": behind,
            "behind_text": behind_lines(result), "files": [str(p) for p in paths]}


@click.command("bulletin")
@click.option("--week", "week_text", default=None,
              help="ISO week, e.g. 2026-W48 (default: the last complete week, Asia/Shanghai).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder to write into (default: $LICREG_HOME/bulletins/<week>).")
@click.option("--weights", "weights_file",
              type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="TOML weights of the ranking (default: the packaged weights.toml).")
@click.option("--campaign", "campaign_file",
              type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="TOML deadlines and declared stock (default: the packaged campaign.toml).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def bulletin(settings: Settings, week_text: str | None, out: Path | None,
             weights_file: Path | None, campaign_file: Path | None, as_json: bool) -> None:
    """Weekly figures per department, ranking and bulletin (bulletin.html, figures.csv,
    figures.xlsx)."""

    result, paths = run_bulletin(engine(settings), home=settings.home, week=week_text, now=now(),
                                 weights_file=weights_file, campaign_file=campaign_file,
                                 province=settings.province, out=out)
    if as_json:
        echo_json(bulletin_json(result, paths))
        return
    click.echo("\n".join([*ranking_lines(result),
                          *(_("wrote {path}", path=str(p)) for p in paths)]))
