"""The command the flows add to ``licreg``: ``licreg serve`` (through the ``licreg.commands``
entry point in pyproject.toml, so the library never imports the orchestration layer)."""

from __future__ import annotations

from pathlib import Path

import click

from registry.cli._common import handle_errors
from registry.config import Settings
from registry.i18n import _

__all__ = ["serve_command"]


@click.command("serve")
@click.option("--mock-province", is_flag=True,
              help="Also run the mock provincial endpoint and point the sync flows at it.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="At most N flow runs at once (default: no limit).")
@click.option("--port", type=click.IntRange(min=1, max=65535), default=None,
              help="Port of the Prefect server it starts (default: a free one); not with "
                   "PREFECT_API_URL set.")
@click.option("--project", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              default=None, help="The prefect.yaml to serve (default: the project's).")
@click.pass_obj
@handle_errors
def serve_command(settings: Settings, mock_province: bool, limit: int | None,
                  port: int | None, project: Path | None) -> None:
    """Serve the scheduled and on-demand flows until Ctrl-C (or SIGTERM).

    Uses the Prefect server at PREFECT_API_URL, or starts one under LICREG_HOME/prefect.
    Deployments are left active when it stops.
    """
    # Prefect takes a second to import: `licreg --help` lists this command without it.
    from prefect.settings import PREFECT_API_URL  # (as above)

    from flows.serve import PROJECT, serve_project  # (as above)

    if port is not None and PREFECT_API_URL.value():
        raise click.UsageError(_("--port is for the Prefect server licreg serve starts, but "
                                 "PREFECT_API_URL names one already: {url}",
                                 url=PREFECT_API_URL.value()))

    serve_project(settings, project=(project or PROJECT).resolve(), mock_province=mock_province,
                  limit=limit, port=port, say=click.echo)
