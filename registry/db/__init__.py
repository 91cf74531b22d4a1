"""Engines, sessions and migrations for the registry database.

SQLite (the embedded default, WAL mode) and PostgreSQL (at scale) are both first-class;
which one is used is decided by the URL in :class:`registry.config.Settings`.

>>> engine = make_engine("sqlite://")
>>> migrate(engine)
>>> with session_scope(engine) as session: ...

:func:`bulk_insert` is how the hot path (a chunk's licenses, events, log leaves and source rows)
writes: the driver's own executemany with values already in stored form, stored byte for byte
as a Core ``insert()`` stores them, at a fraction of the cost per row.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    LargeBinary,
    Table,
    create_engine,
    event,
    false,
    text,
    update,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import StaticPool

__all__ = ["WalRestarts", "bulk_insert", "json_text", "lock_key", "make_engine", "migrate",
           "restart_wal", "session_scope", "shared_engine", "table_of", "transaction_lock"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite connection waits for another's write lock before giving up."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across app crashes
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.close()


# JSON columns hold Chinese text (raw rows, reasons): UTF-8 as is is half the size of \u escapes.
# One encoder object: json.dumps with these arguments builds a new one per call.
json_text: Callable[[Any], str] = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""The text a JSON column stores for a value (the engines' ``json_serializer``)."""


def _create_private(database: Path) -> None:
    """Create a new SQLite file 0600 (its folder 0700) before SQLite does: SQLite gives its
    -wal and -shm files the database file's mode, so all three stay private whatever the
    umask."""
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.fchmod(fd, 0o600)
    os.close(fd)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL mode and foreign keys, its file is created
    (0600, in a 0700 folder).
    Errors never show statement parameters: they may be holders' data."""
    u = make_url(url)
    if u.drivername.startswith("sqlite"):
        if u.database and u.database != ":memory:":
            _create_private(Path(u.database))
            engine = create_engine(u, json_serializer=json_text, hide_parameters=True)
        else:  # in-memory: one shared connection so every session sees the same database
            engine = create_engine(u, poolclass=StaticPool, json_serializer=json_text,
                                   hide_parameters=True, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    return create_engine(u, pool_pre_ping=True, json_serializer=json_text,
                         hide_parameters=True)


def table_of(model: type[DeclarativeBase]) -> Table:
    """The :class:`~sqlalchemy.Table` of a mapped class (``__table__`` is typed as any
    selectable; a declarative class on one table has exactly this one)."""
    table = model.__table__
    assert isinstance(table, Table), model
    return table


@cache
def shared_engine(url: str) -> Engine:
    """One engine per URL per process, for callers (flows, tasks) that run many times."""
    return make_engine(url)


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema with Alembic."""
    # Alembic takes 0.9 s to import: only a migration pays it, not every command and worker.
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")  # feature branches of the schema may each have a head


def restart_wal(engine: Engine, *, wait_ms: int = 1000) -> bool:
    """SQLite: copy the whole write-ahead log into the database and start the log again from
    its beginning. True when it did; False when a reader still held an older snapshot after
    ``wait_ms``, and on other databases (nothing to do).

    SQLite checkpoints after every commit, but only starts the log again at a moment when no
    connection reads an older snapshot. Worker processes committing chunks while the planner
    reads never leave such a moment: a 1,000,000-row ingest grew a 9 GB log, and every read
    searched a longer and longer log index (a quarter of the throughput). A RESTART
    checkpoint waits for the readers to move on, holding new writers back meanwhile.
    """
    if engine.dialect.name != "sqlite":
        return False
    with engine.connect() as conn:
        conn.exec_driver_sql(f"PRAGMA busy_timeout={wait_ms}")
        try:
            busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)").one()
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return bool(busy == 0)


class WalRestarts:
    """:func:`restart_wal` after each chunk a pipeline commits; while a long reader (an audit,
    say) keeps it from finishing, after 2, 4, 8 … up to 64 chunks instead, so the pipeline is
    not held up at every chunk."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.gap = self.countdown = 1

    def chunk_committed(self) -> None:
        self.countdown -= 1
        if self.countdown <= 0:
            self.gap = 1 if restart_wal(self.engine) else min(2 * self.gap, 64)
            self.countdown = self.gap


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session committed on success and rolled back on error."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


def lock_key(name: str) -> int:
    """A PostgreSQL advisory lock key (signed 64 bits) for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def transaction_lock(session: Session, key: int, table: Table) -> None:
    """Wait for, then hold until the session's transaction ends, the lock ``key``.

    PostgreSQL: the transaction-scoped advisory lock ``key`` (see :func:`lock_key`). SQLite
    has one write lock for the whole database, which serialises every writer anyway: a write
    on ``table`` that changes nothing takes it now instead of at the transaction's first real
    write, so what the transaction reads from here on is the newest committed state and stays
    so until it commits.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    else:
        first = next(iter(table.c))
        session.execute(update(table).where(false()).values({first: first}))


@dataclass(frozen=True)
class _InsertPlan:
    """How to insert given columns of a table on one dialect, worked out once."""

    sql: str
    """``COPY … FROM STDIN`` on PostgreSQL (psycopg), else an INSERT in the driver's
    parameter style."""
    copy: bool
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    """(column position, SQLAlchemy bind processor) for the columns whose values it converts."""


_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


@functools.lru_cache(maxsize=128)
def _insert_plan(table: Table, columns: tuple[str, ...], dialect: Dialect) -> _InsertPlan:
    """The statement and bind processors for ``columns`` of ``table``, built once.

    JSON and binary columns get no processor: their values arrive as :func:`json_text` text
    and bytes, which is what SQLAlchemy hands the driver for them too.
    """
    unknown = [c for c in columns if c not in table.c]
    if unknown:
        raise ValueError(f"bulk insert into {table.name}: no column(s) {', '.join(unknown)}")
    defaulted = [c.name for c in table.c if c.default is not None and c.name not in columns]
    if defaulted:  # Core would fill these in; the driver would store NULL
        raise ValueError(f"bulk insert into {table.name}: give {', '.join(defaulted)} "
                         f"explicitly (the column has a client-side default)")
    processors = []
    for i, name in enumerate(columns):
        column_type = table.c[name].type
        if isinstance(column_type, JSON | LargeBinary):
            continue
        process = column_type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((i, process))
    quote = dialect.identifier_preparer.quote
    target = f"{quote(table.name)} ({', '.join(quote(c) for c in columns)})"
    if dialect.driver == "psycopg":  # what make_engine gives PostgreSQL
        return _InsertPlan(f"COPY {target} FROM STDIN", True, tuple(processors))
    placeholders = ", ".join([_PLACEHOLDERS[dialect.paramstyle]] * len(columns))
    return _InsertPlan(f"INSERT INTO {target} VALUES ({placeholders})",  # noqa: S608 - names from the Table, values bound
                       False, tuple(processors))


def _stored(
    rows: Sequence[tuple[Any, ...]], processors: Sequence[tuple[int, Callable[[Any], Any]]]
) -> list[tuple[Any, ...]]:
    """``rows`` with the processed columns converted. A chunk shares a handful of datetimes,
    so each distinct value is converted once."""
    if not processors:
        return list(rows)
    converted: list[dict[Any, Any]] = [{} for _ in processors]
    out = []
    for row in rows:
        values = list(row)
        for (i, process), seen in zip(processors, converted, strict=True):
            value = values[i]
            if value not in seen:
                seen[value] = process(value)
            values[i] = seen[value]
        out.append(tuple(values))
    return out


def bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> int:
    """Insert ``rows`` (tuples of values in ``columns`` order) into ``table`` in the
    connection's transaction; returns how many.

    Values are what a Core ``insert()`` takes, except JSON columns, which take their text
    (:func:`json_text`) so a document is encoded once (``json_text(None)`` is the JSON null
    Core stores for None; a bare None is SQL NULL). Columns whose type converts values
    (UTC datetimes) are converted by the column's own SQLAlchemy type, so every value is
    stored exactly as a Core insert stores it (``tests/db/test_bulk_insert.py`` checks that on
    both engines). Every column with a client-side default must be given.

    SQLite gets one executemany; PostgreSQL one ``COPY`` (a row-by-row executemany costs
    the server a statement per row). An error is SQLAlchemy's on both (an
    :class:`~sqlalchemy.exc.IntegrityError` …), its parameters hidden: a COPY bypasses
    the engine's ``hide_parameters``, and psycopg's message quotes the row's values (in its
    text, DETAIL and CONTEXT), so it says only the error's class, SQLSTATE, table, column and
    constraint.
    """
    if not rows:
        return 0
    plan = _insert_plan(table, tuple(columns), conn.dialect)
    values = _stored(rows, plan.processors)
    if plan.copy:
        import psycopg  # the driver make_engine gives PostgreSQL

        driver = conn.connection.driver_connection
        assert driver is not None  # a live connection of the engine's pool
        try:
            with driver.cursor() as cursor, \
                    cursor.copy(plan.sql) as copy:
                for row in values:
                    copy.write_row(row)
        except psycopg.Error as exc:
            said = [f"{name} {value}" for name, value in (
                ("SQLSTATE", exc.sqlstate), ("table", exc.diag.table_name),
                ("column", exc.diag.column_name), ("constraint", exc.diag.constraint_name))
                if value]
            bare = type(exc)(" ".join([type(exc).__name__, *said]))
            raise DBAPIError.instance(plan.sql, None, bare, psycopg.Error, hide_parameters=True,
                                      dialect=conn.dialect) from None  # not the quoting one
    else:
        conn.exec_driver_sql(plan.sql, values)
    return len(rows)
