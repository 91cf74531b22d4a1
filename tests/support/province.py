"""Shared helpers for the aggregation tests (no tests here).

A registry is the demo world with synthetic licenses sealed exactly as ingest seals them
(:func:`tests.support.licenses.seal_synthetic`); the platform is ``create_app`` behind a
FastAPI TestClient (an ``httpx.Client``), or the real subprocess where a socket matters.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from registry.city.demo import create_demo_world, init_registry
from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.db.models import License, OutboxEvent
from registry.mockprovince.server import create_app
from registry.province.client import ProvinceClient
from registry.province.sync import SealCache, event_status, item_for
from registry.seal.pki import load_root_cert
from tests.conftest import NOW, PASSPHRASE
from tests.support.licenses import seal_synthetic

__all__ = ["NOW", "TOKENS", "Platform", "TestClient", "events", "items_for_events",
           "licenses", "make_registry", "platform", "province_client"]  # fmt: skip

TOKENS = {"city": "TEST-ONLY-token"}
PUSHED_AT = NOW + dt.timedelta(hours=1)


def make_registry(home: Path, database_url: str | None = None, *, n: int = 0) -> Settings:
    """A migrated registry with the demo world and ``n`` sealed synthetic licenses."""
    settings = Settings(home=home, database_url=database_url or f"sqlite:///{home / 'r.db'}",
                        passphrase=PASSPHRASE)  # fmt: skip
    engine = make_engine(settings.database_url)
    init_registry(engine)
    with session_scope(engine) as session:
        create_demo_world(session, settings, now=NOW - dt.timedelta(days=30))
    if n:
        seal_synthetic(settings, n, at=NOW)
    engine.dispose()
    return settings


def licenses(engine: Engine) -> list[License]:
    """Every license version, in id order (detached)."""
    with Session(engine, expire_on_commit=False) as session:
        found = list(session.scalars(select(License).order_by(License.id)))
        session.expunge_all()
        return found


def events(engine: Engine) -> list[OutboxEvent]:
    with Session(engine, expire_on_commit=False) as session:
        found = list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))
        session.expunge_all()
        return found


def items_for_events(engine: Engine) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """The wire items of every outbox event, as the sync builds them, and their blobs."""
    seals = SealCache(engine)
    items, blobs = [], {}
    with Session(engine) as session:
        rows = session.execute(
            select(OutboxEvent, License).join(License, License.id == OutboxEvent.license_id)
            .order_by(OutboxEvent.id)
        ).all()
        for event, lic in rows:
            seal = seals.get(lic.seal_id)
            items.append(item_for(
                operate_type=event.operate_type,
                status=event_status(event.operate_type, event.status, lic.status),
                seq=event.id, identifier=lic.identifier, version=lic.version,
                predecessor=lic.predecessor, record=lic.record, data_hash=lic.data_hash,
                signed_at=lic.signed_at, signature=lic.signature, seal=seal,
            ))  # fmt: skip
            blobs[seal.seal_ref] = seal.seal_der
            blobs[seal.cert_ref] = seal.cert_der
    return items, blobs


@dataclass
class Platform:
    """The in-process platform: the app, its HTTP client and its endpoint object."""

    app: Any
    http: TestClient

    @property
    def endpoint(self) -> Any:
        return self.app.state.endpoint

    @property
    def engine(self) -> Engine:
        return self.endpoint.engine  # type: ignore[no-any-return]

    def stats(self) -> dict[str, Any]:
        return self.http.get("/stats", params={"detail": "true"}).json()  # type: ignore[no-any-return]

    def stored(self, identifier: str) -> dict[str, Any] | None:
        response = self.http.get(f"/api/v1/licenses/{identifier}")
        return None if response.status_code == 404 else response.json()


def platform(settings: Settings, **options: Any) -> Iterator[Platform]:
    """A fresh in-process platform trusting ``settings``' test root (a generator fixture body).

    Its database is a file, as ``licreg province serve``'s is: the sync sends batches from
    several threads, and an in-memory SQLite database is one connection that every request
    would share (one request's rollback could undo another's uncommitted writes).
    """
    db = settings.home / f"province-{uuid.uuid4().hex[:8]}.db"
    app = create_app(db_url=f"sqlite:///{db}", anchors=[load_root_cert(settings.keystore)],
                     tokens=TOKENS, clock=lambda: PUSHED_AT, **options)  # fmt: skip
    with TestClient(app) as http:
        yield Platform(app, http)
    app.state.endpoint.close()


def province_client(http: Any, sleeps: list[float] | None = None, **options: Any) -> ProvinceClient:
    """The real client on ``http``; sleeps are recorded instead of slept."""
    recorded = sleeps if sleeps is not None else []
    options.setdefault("max_attempts", 4)
    options.setdefault("access_id", "city")
    options.setdefault("access_token", TOKENS["city"])
    options.setdefault("clock", PUSHED_AT.timestamp)  # the platform's pinned clock
    return ProvinceClient(http, sleep=recorded.append, jitter=lambda: 1.0, **options)
