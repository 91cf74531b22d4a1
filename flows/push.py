"""Flow: push every outbox event the province has not acknowledged (incremental sync).

Each task pushes up to ``batches_per_task`` HTTP batches, so a sync is a handful of task runs,
never one per license (PREFECT.md §2). Delivery is idempotent end to end: the endpoint
acknowledges identifier + version once, so a retried task cannot store anything twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from registry.cli._common import DEFAULT_ACCESS_ID, DEFAULT_TOKEN
from registry.config import Settings
from registry.db import session_scope, shared_engine
from registry.province.client import ProvinceClient
from registry.province.sync import push_pending


@task(name="push-batches", cache_policy=NO_CACHE, retries=3,
      retry_delay_seconds=exponential_backoff(backoff_factor=2), retry_jitter_factor=0.5)
def push_batches_task(endpoint: str, access_id: str, token: str, batch_size: int,
                      batches_per_task: int) -> dict[str, Any]:
    settings = Settings.from_env()
    with httpx.Client(base_url=endpoint, timeout=httpx.Timeout(30.0, connect=5.0)) as http, \
            session_scope(shared_engine(settings.database_url)) as session:
        client = ProvinceClient(http, access_id=access_id, access_token=token)
        summary = push_pending(session, client, batch_size=batch_size,
                               max_batches=batches_per_task, at=dt.datetime.now(dt.UTC))
    return dict(summary.__dict__)


@flow(name="push-to-province")
def push_to_province(endpoint: str, access_id: str = DEFAULT_ACCESS_ID,
                     token: str = DEFAULT_TOKEN, batch_size: int = 500,
                     batches_per_task: int = 20) -> dict[str, Any]:
    """Push until nothing acknowledged-able is left; returns the totals."""
    logger = get_run_logger()
    totals: dict[str, Any] = {"sent": 0, "accepted": 0, "duplicates": 0, "rejected": 0,
                              "batches": 0}
    while True:
        summary = push_batches_task(endpoint, access_id, token, batch_size, batches_per_task)
        for key in totals:
            totals[key] += summary[key]
        logger.info("pushed %s", summary)
        # Rejected items stay pending (they need a person); stop when a round made no progress.
        progressed = summary["accepted"] + summary["duplicates"]
        if summary["batches"] < batches_per_task or progressed == 0:
            return totals
