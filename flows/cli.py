"""The command the flows add to ``licreg``: ``licreg serve`` (through the ``licreg.commands``
entry point in pyproject.toml, so the library never imports the orchestration layer)."""

from __future__ import annotations

from pathlib import Path

import click

from registry.cli._common import handle_errors
from registry.config import Settings

__all__ = ["serve_command"]


@click.command("serve")
@click.option("--mock-province", is_flag=True,
              help="Also run the mock provincial endpoint and point the sync flows at it.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="At most N flow runs at once (default: no limit).")
@click.option("--project", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              default=None, help="The prefect.yaml to serve (default: the project's).")
@click.pass_obj
@handle_errors
def serve_command(settings: Settings, mock_province: bool, limit: int | None,
                  project: Path | None) -> None:
    """Serve the scheduled and on-demand flows until Ctrl-C (or SIGTERM).

    Uses the Prefect server at PREFECT_API_URL, or starts one under LICREG_HOME/prefect.
    Deployments are left active when it stops.
    """
    # Prefect takes a second to import: `licreg --help` lists this command without it.
    from flows.serve import PROJECT, serve_project

    serve_project(settings, project=(project or PROJECT).resolve(), mock_province=mock_province,
                  limit=limit, say=click.echo)
