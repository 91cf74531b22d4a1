"""Shared fixtures: a pinned clock, a registry on SQLite and (when reachable) PostgreSQL.

PostgreSQL runs on 127.0.0.1:5432 on these machines; each test that asks for ``engine`` gets a
fresh database there. Locally an unreachable server skips those tests; CI sets
``LICREG_REQUIRE_POSTGRES=1`` so it fails instead.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

# Prefect settings must be in place before prefect is imported anywhere (PREFECT.md §8).
if "PREFECT_HOME" not in os.environ:  # worker processes inherit the parent's
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="licreg-prefect-")
    atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ["PREFECT_API_URL"] = ""
# The suite reads licreg in English (its assertions name English messages); the tests of the
# Chinese default (tests/test_i18n.py and the per-area ones) ask for it explicitly.
os.environ["LICREG_LANG"] = "en"
# A bug in a command shows its traceback here (users get one line and an error id instead;
# tests/cli/test_common.py asks for that).
os.environ.setdefault("LICREG_TRACEBACK", "1")

import pytest
from sqlalchemy import Engine, text

from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.i18n import language

NOW = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)
"""The pinned clock of the test suite (fixtures are written for this date)."""
TODAY = NOW.date()
PASSPHRASE = b"TEST-ONLY-test-suite-passphrase"
REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
PG_ADMIN_URL = os.environ.get("LICREG_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres",
                             connect_timeout=3):
            return None
    except Exception as exc:  # any failure means "not reachable here"
        return str(exc)


_PG_PROBLEM = _pg_available()


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """In-process library calls speak English too (see LICREG_LANG above)."""
    with language("en"):
        yield


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    if _PG_PROBLEM:
        if os.environ.get("LICREG_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL required but unreachable: {_PG_PROBLEM}")
        pytest.skip(f"PostgreSQL unreachable: {_PG_PROBLEM}")
    name = f"licreg_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(home=tmp_path / "var", database_url=db_url, passphrase=PASSPHRASE)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """A migrated registry with the demo city's license types registered (no city or
    departments yet)."""
    from registry.city.demo import demo_plan, init_registry
    from registry.city.setup import register_type

    eng = make_engine(settings.database_url)
    init_registry(eng)
    with session_scope(eng) as session:
        for lt in demo_plan().types:
            register_type(session, lt)
    yield eng
    eng.dispose()


@pytest.fixture
def world(engine: Engine, settings: Settings) -> Engine:
    """The demo world: test PKI, departments, seals and published templates."""
    from registry.city.demo import create_demo_world

    with session_scope(engine) as session:
        create_demo_world(session, settings, now=NOW - dt.timedelta(days=30))
    return engine


@pytest.fixture(scope="session")
def harness() -> Iterator[None]:
    """One Prefect test server for every flow test of the session (PREFECT.md §9.10)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def demo_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The demo world on SQLite, configured through the environment as flows read it."""
    return demo_registry(tmp_path / "var", monkeypatch)


def demo_registry(home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A demo world on SQLite under ``home``, made the environment's registry (a test may
    make several and switch between them)."""
    from registry.city.demo import create_demo_world, init_registry

    monkeypatch.setenv("LICREG_HOME", str(home))
    monkeypatch.setenv("LICREG_DATABASE_URL", f"sqlite:///{home / 'registry.db'}")
    monkeypatch.setenv("LICREG_KEY_PASSPHRASE", PASSPHRASE.decode())
    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    init_registry(engine)
    with session_scope(engine) as session:
        create_demo_world(session, settings, now=NOW.replace(month=1))
    engine.dispose()
    return settings
