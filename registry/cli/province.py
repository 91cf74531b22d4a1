"""``licreg province serve`` and ``licreg push``: the provincial platform and the sync to it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from registry.cli import cli
from registry.cli._common import (
    DEFAULT_ACCESS_ID,
    DEFAULT_TOKEN,
    echo_json,
    engine,
    handle_errors,
    now,
)
from registry.config import Settings
from registry.db import session_scope


@cli.group()
def province() -> None:
    """The mock provincial aggregation platform."""


def parse_tokens(values: Sequence[str]) -> dict[str, str]:
    tokens = {}
    for v in values or (f"{DEFAULT_ACCESS_ID}={DEFAULT_TOKEN}",):
        access_id, sep, token = v.partition("=")
        if not sep:
            raise click.BadParameter(f"expected ID=TOKEN, got {v!r}", param_hint="--token")
        tokens[access_id] = token
    return tokens


@province.command("serve")
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--anchors", type=click.Path(path_type=Path), default=None,
              help="Trusted roots (default: this registry's test root).")
@click.option("--token", "tokens", multiple=True, help="Accepted credential ID=TOKEN (repeatable).")
@click.pass_obj
@handle_errors
def province_serve(settings: Settings, port: int, anchors: Path | None,
                   tokens: tuple[str, ...]) -> None:
    """Run the mock provincial endpoint in this process (Ctrl-C stops it)."""
    from registry.province.server import serve

    serve(port=port, home=settings.province_home,
          anchors_path=anchors or settings.keystore / "root.pem", tokens=parse_tokens(tokens))


@cli.command()
@click.option("--endpoint", required=True, help="Base URL of the provincial endpoint.")
@click.option("--access-id", envvar="LICREG_PROVINCE_ACCESS_ID", default=DEFAULT_ACCESS_ID)
@click.option("--token", envvar="LICREG_PROVINCE_TOKEN", default=DEFAULT_TOKEN)
@click.option("--batch-size", type=int, default=500, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def push(settings: Settings, endpoint: str, access_id: str, token: str, batch_size: int,
         as_json: bool) -> None:
    """Push every license event not yet acknowledged by the province."""
    import httpx

    from registry.province.client import ProvinceClient
    from registry.province.sync import push_pending

    with httpx.Client(base_url=endpoint, timeout=httpx.Timeout(30.0, connect=5.0)) as http, \
            session_scope(engine(settings)) as session:
        client = ProvinceClient(http, access_id=access_id, access_token=token)
        summary = push_pending(session, client, batch_size=batch_size, at=now())
    if as_json:
        echo_json(summary.to_dict())
        return
    click.echo(f"sent {summary.sent}: accepted {summary.accepted}, duplicates "
               f"{summary.duplicates}, rejected {summary.rejected} in {summary.batches} batch(es)")
    for code, n in sorted(summary.reasons.items()):
        click.echo(f"  {code}: {n}")
