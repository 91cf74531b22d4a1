"""Helpers of the flow tests: flow runs as the Prefect server recorded them (their final state
and their artifacts, read back through the Prefect client of the session's harness,
tests/conftest.py), and a stored record changed behind the registry's back."""

from __future__ import annotations

import json
from typing import Any

from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.db.models import License

__all__ = ["newest_artifact", "recorded_state", "table", "tamper"]


def newest_artifact(key: str) -> Any:
    """The newest version of the artifact ``key`` (its ``type``, ``data``, ``description``)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC)
    assert found, key
    return found[0]


def table(key: str) -> list[dict[str, Any]]:
    """The rows of the newest table artifact ``key``."""
    data = newest_artifact(key).data
    return json.loads(data) if isinstance(data, str) else list(data)


def recorded_state(state: Any) -> Any:
    """The final state of ``state``'s flow run as the server holds it."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.state is not None
    return run.state


def tamper(settings: Settings, license_id: int) -> None:
    """Edit a stored record after sealing: the platform refuses it and the audit fails it
    (HASH_FAILURE)."""
    engine = make_engine(settings.database_url)
    with session_scope(engine) as s:
        lic = s.get_one(License, license_id)
        lic.record = lic.record.replace("示范市".encode(), "伪造市".encode(), 1)
    engine.dispose()
