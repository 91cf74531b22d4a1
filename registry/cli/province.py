"""``licreg province serve`` and ``licreg push``: the provincial platform and the sync to it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from registry.cli._common import handle_errors
from registry.cli.sync import report_push, run_incremental
from registry.config import DEFAULT_ACCESS_ID, DEFAULT_TOKEN, Settings
from registry.i18n import _
from registry.mockprovince.faults import Faults
from registry.mockprovince.server import serve
from registry.province.auth import Credential

__all__ = ["parse_tokens", "province", "province_serve", "push"]


@click.group()
def province() -> None:
    """The mock provincial aggregation platform."""


def parse_tokens(values: Sequence[str]) -> dict[str, str]:
    tokens = {}
    for v in values or (f"{DEFAULT_ACCESS_ID}={DEFAULT_TOKEN}",):
        access_id, sep, token = v.partition("=")
        if not sep:
            raise click.BadParameter(_("expected ID=TOKEN, got {text!r}", text=v),
                                     param_hint="--token")
        tokens[access_id] = token
    return tokens


@province.command("serve")
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--anchors", type=click.Path(path_type=Path), default=None,
              help="Trusted roots (default: this registry's test root).")
@click.option("--token", "tokens", multiple=True, help="Accepted credential ID=TOKEN (repeatable).")
@click.option("--hmac", "hmac_keys", multiple=True, metavar="ID=SECRET",
              help="Accept HMAC-signed requests from ID (repeatable).")
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
def province_serve(settings: Settings, port: int, anchors: Path | None, tokens: tuple[str, ...],
                   hmac_keys: tuple[str, ...], faults: tuple[str, ...], faults_file: Path | None,
                   reject_unknown: bool, workers: int) -> None:
    """Run the mock provincial endpoint in this process (Ctrl-C stops it)."""

    credentials = [Credential(i, t, "token") for i, t in parse_tokens(tokens).items()]
    credentials += [Credential(i, k, "hmac") for i, k in _pairs(hmac_keys, "--hmac").items()]
    injected = Faults.parse(faults, base=Faults.from_file(faults_file) if faults_file else None)
    serve(port=port, home=settings.province_home,
          anchors_path=anchors or settings.keystore / "root.pem", credentials=credentials,
          faults=injected, hold_unknown=not reject_unknown, verify_workers=workers)


def _pairs(values: Sequence[str], hint: str) -> dict[str, str]:
    pairs = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key or not value:
            raise click.BadParameter(_("expected ID=SECRET, got {text!r}", text=v),
                                     param_hint=hint)
        pairs[key] = value
    return pairs


@click.command()
@click.option("--endpoint", required=True, help="Base URL of the provincial endpoint.")
@click.option("--access-id", envvar="LICREG_PROVINCE_ACCESS_ID", default=DEFAULT_ACCESS_ID)
@click.option("--token", envvar="LICREG_PROVINCE_TOKEN", default=DEFAULT_TOKEN)
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
