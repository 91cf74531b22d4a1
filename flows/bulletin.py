"""Flow: the weekly bulletin (周通报), scheduled for Monday 08:00 Beijing time.

One task builds the week's figures, ranking and bulletin from the registry and the
provincial platform's use log (:func:`registry.bulletin.weekly.run_bulletin`) and writes
``bulletin.html``, ``figures.csv``, ``figures.xlsx``, ``sharing.csv`` and ``trend.csv`` under
``$LICREG_HOME/bulletins/<week>/`` (or ``out``); the flow then publishes the bulletin as a
markdown artifact (key ``weekly-bulletin``), in the language of ``LICREG_LANG`` (Chinese by
default), so operators read it in the Prefect UI. ``week`` defaults to the last complete week:
on Monday morning, the week that just ended. A configured platform that cannot be read fails
the task (after its retry) rather than publish a bulletin without sharing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from registry.bulletin import markdown, run_bulletin
from registry.bulletin.deadline import BEHIND
from registry.bulletin.figures import DEPARTMENT
from registry.config import Settings
from registry.db import shared_engine
from registry.i18n import _, language

__all__ = ["ARTIFACT_KEY", "weekly_bulletin"]

ARTIFACT_KEY = "weekly-bulletin"
"""Every run publishes a new version of this artifact."""


@task(name="build-bulletin", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def build_bulletin_task(week: str | None, out: str | None, weights: str | None,
                        campaign: str | None = None) -> dict[str, Any]:
    settings = Settings.from_env()
    with language(settings.lang):
        bulletin, files = run_bulletin(
            shared_engine(settings.database_url), home=settings.home, week=week,
            now=dt.datetime.now(dt.UTC), weights_file=Path(weights) if weights else None,
            campaign_file=Path(campaign) if campaign else None, province=settings.province,
            out=Path(out) if out else None)
        description = _("Weekly bulletin of electronic licenses and seals ({week})",
                        week=str(bulletin.week))
        text = markdown(bulletin, files)
    records = bulletin.deadlines.to_dict("records") if bulletin.deadlines is not None else []
    behind = sorted({r[DEPARTMENT] for r in records
                     if any(v in BEHIND for k, v in r.items() if str(k).endswith("_status"))})
    return {"week": str(bulletin.week), "active": bulletin.active, "partial": bulletin.partial,
            "files": [str(p) for p in files], "markdown": text, "description": description,
            "laggards": list(bulletin.laggards[DEPARTMENT]), "behind_deadline": behind}


@flow(name="weekly-bulletin")
def weekly_bulletin(week: str | None = None, out: str | None = None,
                    weights: str | None = None, campaign: str | None = None) -> dict[str, Any]:
    """The bulletin of ``week`` (``2026-W48``; default the last complete week), written to
    files and published as a markdown artifact; returns the week, the files, the laggards and
    the departments behind a deadline."""
    result = build_bulletin_task(week, out, weights, campaign)
    create_markdown_artifact(key=ARTIFACT_KEY, markdown=result["markdown"],
                             description=result["description"])
    get_run_logger().info("%s", _("bulletin {week} written: {files}", week=result["week"],
                                  files=", ".join(result["files"])))
    return {k: v for k, v in result.items() if k not in ("markdown", "description")}
