"""Flows: aggregation to the provincial platform, on a schedule.

- ``incremental-sync`` (every five minutes, never two at once): push every outbox event the
  province has not acknowledged;
- ``expiry-sweep`` (daily): licenses past their end date become EXPIRED, then the sync pushes
  the 04 events;
- ``reconcile`` (daily): compare counts and content hashes with the province, repair drift;
- ``full-sync`` (on demand): every current license, resumable from its checkpoint.

Each task is one library call on a chunk of work (a few HTTP batches, a sweep of 5,000
licenses), so a sync of 100,000 licenses is tens of task runs (PREFECT.md §2). The endpoint and
credentials are the registry's settings (:class:`registry.config.Settings`, from
``LICREG_PROVINCE_URL``, ``LICREG_PROVINCE_ACCESS_ID``, ``LICREG_PROVINCE_TOKEN``,
``LICREG_PROVINCE_AUTH``), never flow parameters.

Their deployments and schedules are declared in ``prefect.yaml``: served from one process by
``licreg serve`` (:mod:`flows.serve`), or deployed to a work pool with process workers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from prefect import State, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from flows.outcome import failed, summary
from registry.clock import china_day, utc_now
from registry.config import Settings
from registry.db import session_scope, shared_engine
from registry.errors import AggregationError
from registry.i18n import _
from registry.license.lifecycle import expire_due
from registry.province.client import ProvinceClient, open_client
from registry.province.fullsync import full_sync
from registry.province.reconcile import reconcile
from registry.province.sync import push_pending

__all__ = ["expiry_sweep", "full_sync_flow", "incremental_sync", "reconcile_flow"]

def _client(settings: Settings, concurrency: int = 1) -> AbstractContextManager[ProvinceClient]:
    province = settings.province
    return open_client(province.require_endpoint(), access_id=province.access_id,
                       secret=province.secret, scheme=province.scheme, concurrency=concurrency)


_RETRY: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": exponential_backoff(backoff_factor=5),
    "retry_jitter_factor": 0.5,
    "cache_policy": NO_CACHE,
}


@task(name="push-events", **_RETRY)
def push_events_task(batch_size: int, concurrency: int, batches: int) -> dict[str, Any]:
    """Up to ``batches`` batches of pending events (a retry resends at most those batches:
    the platform acknowledges a resent event as DUPLICATE)."""
    settings = Settings.from_env()
    with _client(settings, concurrency) as client, \
            session_scope(shared_engine(settings.database_url)) as session:
        summary = push_pending(session, client, batch_size=batch_size, max_batches=batches,
                               concurrency=concurrency, at=utc_now(), clock=utc_now)
    return {**summary.to_dict(), "drained": summary.drained(batches)}


def _add(totals: dict[str, Any], summary: Mapping[str, Any]) -> None:
    """Add a task's counts and reason counts to the flow's totals."""
    for key, value in summary.items():
        if isinstance(value, int) and not isinstance(value, bool):
            totals[key] = totals.get(key, 0) + value
    reasons = totals.setdefault("reasons", {})
    for code, n in (summary.get("reasons") or {}).items():
        reasons[code] = reasons.get(code, 0) + n


def _pushed(flow: str, totals: dict[str, Any], stopped: AggregationError | None,
            refused: str) -> dict[str, Any] | State[Any]:
    """The totals, or Failed (with a table artifact keyed ``flow``) when the push stopped
    (platform unreachable, credentials refused) or items were refused or became dead letters;
    ``refused`` says the latter."""
    if stopped is not None:
        reason = _("{flow}: the push to the province stopped: {why}", flow=flow, why=stopped)
    elif totals.get("rejected") or totals.get("dead"):
        reason = refused
    else:
        return totals
    return failed(reason, {**totals, "error": reason}, key=flow)


@flow(name="incremental-sync")
def incremental_sync(
    batch_size: int = 1000, concurrency: int = 2, batches_per_task: int = 20
) -> dict[str, Any] | State[Any]:
    """Push until nothing deliverable is left; returns the totals. Failed when the platform
    refused events, some became dead letters, or it could not be reached (:mod:`flows.outcome`)."""
    logger = get_run_logger()
    totals: dict[str, Any] = {}
    stopped = None
    while True:
        try:
            part = push_events_task(batch_size, concurrency, batches_per_task)
        except AggregationError as exc:  # after the client's and the task's retries
            stopped = exc
            break
        _add(totals, part)
        logger.info("%s", _("pushed {sent}: accepted {accepted}, duplicates {duplicates}, held "
                            "{held}, rejected {rejected}, dead letters {dead}", **part))
        if part["drained"]:
            break
    return _pushed("incremental-sync", totals, stopped, _(
        "incremental sync: the province refused {rejected} events ({reasons}), {dead} became "
        "dead letters", rejected=totals.get("rejected", 0), dead=totals.get("dead", 0),
        reasons=_reasons(totals)))


def _reasons(totals: Mapping[str, Any]) -> str:
    return _(", ").join(f"{code} {n}" for code, n in (totals.get("reasons") or {}).items())


@task(name="expire-due", cache_policy=NO_CACHE, retries=1)
def expire_task(today: str, limit: int) -> int:
    settings = Settings.from_env()
    with session_scope(shared_engine(settings.database_url)) as session:
        return expire_due(session, today=dt.date.fromisoformat(today), at=utc_now(),
                          limit=limit).expired


@flow(name="expiry-sweep")
def expiry_sweep(today: str | None = None, limit: int = 5000) -> dict[str, Any] | State[Any]:
    """Licenses past their end date become EXPIRED (a task per ``limit``), then the 04 events
    go to the province; Failed when that push fails."""
    day = today or china_day(utc_now()).isoformat()
    expired = 0
    while n := expire_task(day, limit):
        expired += n
    if not expired:
        return {"today": day, "expired": 0, "pushed": {}}
    push = incremental_sync(return_state=True)
    result = {"today": day, "expired": expired, "pushed": summary(push)}
    if push.is_failed():  # the subflow's artifact has the counts
        return failed(push.message or "", result)
    return result


@task(name="full-sync-pages", **_RETRY)
def full_sync_task(batch_size: int, concurrency: int, pages: int, restart: bool) -> dict[str, Any]:
    settings = Settings.from_env()
    with _client(settings, concurrency) as client, \
            session_scope(shared_engine(settings.database_url)) as session:
        return full_sync(session, client, batch_size=batch_size, concurrency=concurrency,
                         max_batches=pages, restart=restart, at=utc_now(),
                         clock=utc_now).to_dict()


_WHERE = ("position", "total", "finished")


@flow(name="full-sync")
def full_sync_flow(
    batch_size: int = 1000, concurrency: int = 2, pages_per_task: int = 20, restart: bool = False
) -> dict[str, Any] | State[Any]:
    """Every current license, ``pages_per_task`` pages per task, from the checkpoint on;
    returns the totals. Failed when the platform refused licenses or could not be reached (a
    re-run resumes from the checkpoint)."""
    logger = get_run_logger()
    totals: dict[str, Any] = {}
    stopped = None
    try:
        part = full_sync_task(batch_size, concurrency, pages_per_task, restart)
        totals["resumed_from"] = part["resumed_from"]
        while True:  # counts add up; where the pass is comes from the last task
            _add(totals, {k: v for k, v in part.items() if k not in (*_WHERE, "resumed_from")})
            totals.update({k: part[k] for k in _WHERE})
            if part["finished"]:
                break
            logger.info("%s", _("full sync at license id {position} of {total}",
                                position=part["position"], total=part["total"]))
            part = full_sync_task(batch_size, concurrency, pages_per_task, False)
    except AggregationError as exc:
        stopped = exc
    return _pushed("full-sync", totals, stopped, _(
        "full sync: the province refused {rejected} licenses ({reasons})",
        rejected=totals.get("rejected", 0), reasons=_reasons(totals)))


@task(name="reconcile", **_RETRY)
def reconcile_task(repair: bool) -> dict[str, Any]:
    settings = Settings.from_env()
    with _client(settings) as client, \
            session_scope(shared_engine(settings.database_url)) as session:
        return reconcile(session, client, repair=repair, at=utc_now()).to_dict()


@flow(name="reconcile")
def reconcile_flow(repair: bool = True) -> dict[str, Any] | State[Any]:
    """Compare with the province and repair; the report says what differed. Failed when the
    province could not be asked (:mod:`flows.outcome`)."""
    try:
        report = reconcile_task(repair)
    except AggregationError as exc:  # after the client's and the task's retries
        reason = _("reconcile: the province could not be asked: {why}", why=exc)
        return failed(reason, {"error": reason}, key="reconcile")
    if not report["in_sync"]:
        get_run_logger().warning("%s", _("province drift: {counts}; repaired: {repaired}",
                                         counts=report["counts"], repaired=report["repaired"]))
    return report


if __name__ == "__main__":
    print(incremental_sync())
