"""The Alembic migrations produce exactly the schema the models declare, on both engines."""

from __future__ import annotations

import datetime as dt

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from registry.db import make_engine, migrate, session_scope
from registry.db.all_models import Base


def test_migrations_match_models(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    migrate(engine)  # a second run is a no-op
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert "licenses" in inspect(engine).get_table_names()
    engine.dispose()


def test_0010_gives_every_registered_type_its_document_and_repins_its_templates(
        db_url: str) -> None:
    """A registry from before types lived in the database keeps working: each type row gets
    the catalogue's document, and templates pinned to the old document's hash follow it."""
    from alembic import command
    from alembic.config import Config

    from registry.db import MIGRATIONS
    from registry.license.types import catalogue, license_type

    biz = "11100000MB0143028R001"
    engine = make_engine(db_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO departments (id, name, uscc, division_code) VALUES "
            "(1, '示范市市场监督管理局', '11330100MB1703218R', '330100')"))
        conn.execute(text(
            "INSERT INTO license_types (code, name, authority_name, authority_code, schema_sha256)"
            " VALUES (:c, '营业执照', 'x', '11100000MB0143028R', 'old')"), {"c": biz})
        conn.execute(text(
            "INSERT INTO templates (id, type_code, department_id, version, status, "
            "schema_sha256, created_at) VALUES (1, :c, 1, 1, 'made', 'old', :t)"),
            {"c": biz, "t": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)})
    migrate(engine)
    with session_scope(engine) as session:
        lt = license_type(session, biz)
        assert lt.sha256 == catalogue()[biz].sha256 and lt.rules.start_may_precede_issue
        assert session.scalar(text("SELECT schema_sha256 FROM templates")) == lt.sha256
    engine.dispose()
