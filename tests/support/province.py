"""Shared helpers for the aggregation tests, the registry's side and the platform's (no tests
here).

A registry is the demo world with synthetic licenses sealed exactly as ingest seals them
(:func:`tests.support.licenses.seal_synthetic`); the platform is ``create_app`` behind a
FastAPI TestClient (an ``httpx.Client``), or the real subprocess where a socket matters.
:class:`World` is a registry whose outbox holds new licenses and lifecycle events, as items
the way the sync builds them, for the tests of the platform.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from registry.city.demo import create_demo_world, init_registry
from registry.cli import cli
from registry.config import DEFAULT_ACCESS_ID, DEFAULT_TOKEN, Settings
from registry.db import make_engine, session_scope
from registry.db.models import License, OutboxEvent
from registry.license import lifecycle as lc
from registry.mockprovince.server import create_app
from registry.province.client import ProvinceClient
from registry.province.sync import SealCache, event_status, item_for, push_pending, sync_report
from registry.province.wire import LICENSES_PATH, build_request
from registry.seal.pki import load_root_cert
from tests.conftest import NOW, PASSPHRASE
from tests.support.licenses import seal_synthetic

__all__ = ["AT", "AUTH", "NOW", "REGISTRY_AUTH", "TOKENS", "Platform", "TestClient", "World",
           "cli_run", "events", "items_for_events", "licenses", "licenses_ids", "make_registry",
           "platform", "province_client", "push", "report", "serve_endpoint", "sync"]  # fmt: skip

TOKENS = {"city": "TEST-ONLY-token"}
AUTH = {"Authorization": f"Bearer {TOKENS['city']}", "X-Access-Id": "city"}
"""Headers that authenticate a request as city (credentials travel in headers only)."""
REGISTRY_AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}", "X-Access-Id": DEFAULT_ACCESS_ID}
"""Headers of a registry's own default credential, which ``licreg province serve`` accepts."""


def token_file(folder: Path, token: str = TOKENS["city"]) -> str:
    """A file of mode 0600 holding ``token``, for ``--token-file`` (never ``--token``: an
    argument is readable by every user of the machine)."""
    path = folder / f"token-{uuid.uuid4().hex[:8]}"
    path.write_text(token + "\n")
    path.chmod(0o600)
    return str(path)


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
        response = self.http.get(f"/api/v1/licenses/{identifier}", headers=AUTH)
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


# -- the registry's side: syncs, reports, commands -------------------------------------------------

AT = NOW + dt.timedelta(hours=2)
"""When the sync tests push (an hour after the platform's clock, two after sealing)."""


def sync(reg: Settings, client: Any, **options: Any) -> Any:
    """Push ``reg``'s pending events through ``client`` (at AT unless ``at`` is given)."""
    engine = make_engine(reg.database_url)
    options.setdefault("at", AT)
    with Session(engine) as session:
        summary = push_pending(session, client, **options)
    engine.dispose()
    return summary


def report(reg: Settings, at: dt.datetime = AT) -> dict[str, Any]:
    """The sync status report of ``reg`` (what ``licreg sync status`` shows), as of ``at``."""
    engine = make_engine(reg.database_url)
    with Session(engine) as s:
        found = sync_report(s, at=at).to_dict()
    engine.dispose()
    return found


def licenses_ids(engine: Any) -> list[str]:
    """Every license version's identifier, in id order."""
    with Session(engine) as s:
        return list(s.scalars(select(License.identifier).order_by(License.id)))


def cli_run(reg: Settings, *args: str, **env: str) -> tuple[int, str]:
    """``licreg ARGS`` on ``reg``: (exit code, output)."""
    environ = {"LICREG_HOME": str(reg.home), "LICREG_DATABASE_URL": reg.database_url,
               "LICREG_KEY_PASSPHRASE": PASSPHRASE.decode(), **env}  # fmt: skip
    result = CliRunner().invoke(cli, list(args), env=environ)
    return result.exit_code, result.output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve_endpoint(env: dict[str, str]) -> Iterator[str]:
    """``licreg province serve`` in its own process, as an operator starts it, for the
    registry ``env`` names; its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "registry.cli", "province", "serve", "--port", str(port)],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            proc.kill()
            output = proc.communicate()[0].decode()[-2000:]
            pytest.fail(f"endpoint did not start: {output}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- the platform's side: a world of items ---------------------------------------------------------


class World:
    """A registry whose outbox holds, in order: 01 × 5, then lic0 03 (suspend), lic1 09 (its
    v2), lic2 05 (cancel), lic3 03 + 06 (suspend, unsuspend)."""

    def __init__(self, home: Path) -> None:
        self.settings = make_registry(home, n=5)
        self.engine = make_engine(self.settings.database_url)
        with session_scope(self.engine) as s:
            ids = list(s.scalars(select(License.identifier).order_by(License.id)))
        at = NOW + dt.timedelta(minutes=5)
        with session_scope(self.engine) as s:
            lc.suspend(s, ids[0], at=at, actor="t")
            self.v2 = lc.change(s, self.settings, ids[1], changes={"KZ_FDDBR": "李四"}, at=at,
                                actor="t").identifier  # fmt: skip
            lc.cancel(s, ids[2], at=at, actor="t")
            lc.suspend(s, ids[3], at=at, actor="t")
            lc.unsuspend(s, ids[3], at=at, actor="t")
        self.ids = ids
        self.items, self.blobs = items_for_events(self.engine)

    def item(self, identifier: str, operate_type: str) -> dict[str, Any]:
        return copy.deepcopy(next(i for i in self.items
                                  if i["ZZBS"] == identifier and i["operateType"] == operate_type))


def push(plat: Platform, world: World, *items: dict[str, Any], **head: Any) -> list[dict[str, Any]]:
    """POST ``items`` (with the world's blobs) as city; the acks."""
    body = build_request(list(items), access_id="city", access_token=TOKENS["city"],
                         request_id="r", blobs=world.blobs)  # fmt: skip
    response = plat.http.post(LICENSES_PATH, json=body, headers=AUTH, **head)
    assert response.status_code == 200, response.text
    acks: list[dict[str, Any]] = response.json()["data"]["acks"]
    return acks
