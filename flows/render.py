"""Flow: render and PAdES-sign the PDF of every sealed license that has none yet.

Each task renders up to ``per_task`` pending licenses with :func:`registry.render.renditions.
render_pending` (which spreads its chunks over worker processes and commits per chunk), so a
run of a hundred thousand licenses is a few dozen task runs, never one per license. Re-running
is safe: a license with a recorded rendition is no longer pending.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import State, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.outcome import failed
from registry.config import Settings
from registry.db import shared_engine
from registry.errors import RegistryError
from registry.i18n import _
from registry.render.renditions import render_pending

__all__ = ["render_pdfs", "render_pdfs_task"]


@task(name="render-pdfs", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def render_pdfs_task(per_task: int, workers: int | None, tsa_url: str | None) -> dict[str, Any]:
    settings = Settings.from_env()
    report = render_pending(shared_engine(settings.database_url), settings,
                            at=dt.datetime.now(dt.UTC), limit=per_task, workers=workers,
                            tsa_url=tsa_url)
    return report.to_dict()


@flow(name="render-pdfs")
def render_pdfs(per_task: int = 5_000, workers: int | None = None,
                tsa_url: str | None = None) -> dict[str, Any] | State[Any]:
    """Render until no license is pending; returns the totals. Failed when a rendition could
    not be made (a font, the time-stamping server, the keystore: :mod:`flows.outcome`)."""
    logger = get_run_logger()
    totals = {"rendered": 0, "with_missing_glyphs": 0, "tasks": 0}
    while True:
        try:
            report = render_pdfs_task(per_task, workers, tsa_url)
        except RegistryError as exc:  # after the task's retries; what was rendered is kept
            reason = _("renditions stopped after {n} PDF licenses: {why}",
                       n=totals["rendered"], why=exc)
            return failed(reason, {**totals, "error": reason}, key="render-pdfs")
        totals["rendered"] += report["rendered"]
        totals["with_missing_glyphs"] += report["with_missing_glyphs"]
        totals["tasks"] += 1
        logger.info("%s", _("rendered and signed {rendered} PDF licenses ({missing} with "
                            "missing glyphs)", rendered=report["rendered"],
                            missing=report["with_missing_glyphs"]))
        if report["rendered"] < per_task:
            return totals
