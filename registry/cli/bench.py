"""``licreg bench``: throughput per stage, next to the raw signing limit."""

from __future__ import annotations

from pathlib import Path

import click

from registry.bench.run import run_bench
from registry.cli._common import echo_json, handle_errors

__all__ = ["bench"]


@click.command()
@click.option("--licenses", "n", type=int, default=100_000, show_default=True)
@click.option("--database-url", default=None,
              help="Benchmark on this database instead of a scratch SQLite file.")
@click.option("--workdir", type=click.Path(path_type=Path), default=None,
              help="Where the scratch registry goes (default: the system temp folder).")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def bench(n: int, database_url: str | None, workdir: Path | None, as_json: bool) -> None:
    """Measure every stage on N synthetic licenses in a scratch registry."""

    report = run_bench(n, workdir=workdir, database_url=database_url,
                       progress=lambda line: click.echo(line, err=True))
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(report.table())
