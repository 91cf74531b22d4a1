"""Engines, sessions and migrations for the registry database.

SQLite (the embedded default, WAL mode) and PostgreSQL (at scale) are both first-class;
which one is used is decided by the URL in :class:`registry.config.Settings`.

>>> engine = make_engine("sqlite://")
>>> migrate(engine)
>>> with session_scope(engine) as session: ...
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

__all__ = ["make_engine", "migrate", "session_scope", "shared_engine"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across app crashes
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


# JSON columns hold Chinese text (raw rows, reasons): UTF-8 as is is half the size of \u escapes.
_json = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL mode and foreign keys, its folder is created."""
    u = make_url(url)
    if u.drivername.startswith("sqlite"):
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(u, json_serializer=_json)
        else:  # in-memory: one shared connection so every session sees the same database
            engine = create_engine(u, poolclass=StaticPool, json_serializer=_json,
                                   connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    return create_engine(u, pool_pre_ping=True, json_serializer=_json)


@cache
def shared_engine(url: str) -> Engine:
    """One engine per URL per process, for callers (flows, tasks) that run many times."""
    return make_engine(url)


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema with Alembic."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")  # feature branches of the schema may each have a head


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session committed on success and rolled back on error."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session
