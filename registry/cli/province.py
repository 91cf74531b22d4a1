"""``licreg province serve`` and ``licreg push``: the provincial platform and the sync to it."""

from __future__ import annotations

from pathlib import Path

import click

from registry.cli._common import handle_errors
from registry.cli.sync import report_push, run_incremental, token_option
from registry.config import DEFAULT_ACCESS_ID, Settings
from registry.mockprovince.faults import Faults
from registry.mockprovince.process import city_credential
from registry.mockprovince.server import MAX_BODY, serve
from registry.province.auth import CREDENTIALS_VAR, load_credentials

__all__ = ["province", "province_serve", "push"]


@click.group()
def province() -> None:
    """The mock provincial aggregation platform."""


@province.command("serve")
@click.option("--port", type=int, default=8765, show_default=True, help="0: any free port.")
@click.option("--anchors", type=click.Path(path_type=Path), default=None,
              help="Trusted roots (default: this registry's test root).")
@click.option("--credentials", "credentials_file", type=click.Path(path_type=Path),
              envvar=CREDENTIALS_VAR, default=None,
              help="Accepted credentials and what each may push for: a TOML file of mode 0600 "
                   f"(${CREDENTIALS_VAR}; default: this registry's own credential from "
                   "$LICREG_PROVINCE_ACCESS_ID / $LICREG_PROVINCE_TOKEN, bound to its city).")
@click.option("--max-body", type=int, default=MAX_BODY, show_default=True,
              help="Most bytes of a request body (413 beyond).")
@click.option("--fault", "faults", multiple=True, metavar="NAME=VALUE",
              help="Inject faults into pushes, e.g. error_rate=0.1, rate_limit_rate=0.1, "
                   "retry_after=1, hang_rate=0.05, hang_seconds=30, reset_rate=0.05, "
                   "duplicate_ack_rate=0.1, partial_rate=0.1, seed=7 (repeatable).")
@click.option("--faults", "faults_file", type=click.Path(path_type=Path, exists=True),
              default=None, help="A JSON file of fault settings (flags override it).")
@click.option("--reject-unknown", is_flag=True,
              help="Reject status events for versions never received instead of holding them.")
@click.option("--workers", type=int, default=0, show_default=True,
              help="Processes that verify signatures (0: in the web process).")
@click.pass_obj
@handle_errors
def province_serve(settings: Settings, port: int, anchors: Path | None,
                   credentials_file: Path | None, max_body: int, faults: tuple[str, ...],
                   faults_file: Path | None, reject_unknown: bool, workers: int) -> None:
    """Run the mock provincial endpoint in this process (Ctrl-C stops it)."""

    credentials = (load_credentials(credentials_file) if credentials_file
                   else [city_credential(settings)])  # fmt: skip
    injected = Faults.parse(faults, base=Faults.from_file(faults_file) if faults_file else None)
    serve(port=port, home=settings.province_home,
          anchors_path=anchors or settings.keystore / "root.pem", credentials=credentials,
          faults=injected, hold_unknown=not reject_unknown, verify_workers=workers,
          max_body=max_body, say=lambda line: click.echo(line))  # fmt: skip


@click.command()
@click.option("--endpoint", required=True, help="Base URL of the provincial endpoint.")
@click.option("--access-id", envvar="LICREG_PROVINCE_ACCESS_ID", default=DEFAULT_ACCESS_ID)
@token_option
@click.option("--auth", type=click.Choice(["token", "hmac"]), default="token", show_default=True)
@click.option("--batch-size", type=int, default=500, show_default=True)
@click.option("--concurrency", type=int, default=2, show_default=True)
@click.option("--max-attempts", type=int, default=8, show_default=True,
              help="Rejections after which an event becomes a dead letter.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def push(settings: Settings, endpoint: str, access_id: str, token: str, auth: str,
         batch_size: int, concurrency: int, max_attempts: int, as_json: bool) -> None:
    """Push every license event not yet acknowledged by the province (= ``licreg sync run``)."""

    summary = run_incremental(settings, endpoint, access_id, token, auth=auth,
                              batch_size=batch_size, concurrency=concurrency,
                              max_attempts=max_attempts, quiet=as_json)
    report_push(summary, as_json=as_json)
