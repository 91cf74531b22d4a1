"""``licreg license …`` and ``licreg export``: what the registry holds."""

from __future__ import annotations

from pathlib import Path

import click

from registry.cli import cli
from registry.cli._common import echo_json, engine, handle_errors, now
from registry.config import Settings
from registry.db import session_scope


@cli.group("license")
def license_group() -> None:
    """What the registry holds."""


@license_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=int, default=None)
@click.option("--type", "type_code", default=None)
@click.pass_obj
@handle_errors
def license_list(
    settings: Settings, as_json: bool, limit: int | None, type_code: str | None
) -> None:
    """List license versions."""
    from registry.license.queries import list_licenses

    with session_scope(engine(settings)) as session:
        rows = list_licenses(session, limit=limit, type_code=type_code)
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        click.echo(f"{r['identifier']}  {r['status']:<10} {r['name']}  {r['number']}  "
                   f"{r['holder']}")


@license_group.command("show")
@click.argument("identifier")
@click.pass_obj
@handle_errors
def license_show(settings: Settings, identifier: str) -> None:
    """Show one license with all its elements."""
    from registry.license.queries import license_detail

    with session_scope(engine(settings)) as session:
        echo_json(license_detail(session, identifier))


@cli.command()
@click.argument("identifier")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.pass_obj
@handle_errors
def export(settings: Settings, identifier: str, out: Path) -> None:
    """Write an auditor's bundle: license.json, signature.der, seal.der, chain.pem, the signed
    license.pdf and, once a log checkpoint covers the license, proof.json."""
    from registry.verify.export import export_bundle

    with session_scope(engine(settings)) as session:
        files = export_bundle(session, identifier, out, settings=settings, at=now())
    for f in files:
        click.echo(f"{f}  {f.stat().st_size} bytes")
