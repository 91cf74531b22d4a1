"""``licreg``: the command line. Each command parses, calls one library function, renders.

One module per group of commands (``setup``, ``ingest``, ``licenses``, ``audit``,
``province``); each registers its commands on :data:`cli`.

Exit codes: 0 success (for verify: all PASSED), 1 failure (verify: any FAILED), 2 usage,
3 verify: any INDETERMINATE and none FAILED.
"""

from __future__ import annotations

import click

from registry.config import Settings

__all__ = ["cli", "main"]


@click.group()
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Electronic license and seal registry (电子证照与电子印章登记系统)."""
    ctx.obj = Settings.from_env()


def main() -> None:
    cli()


# Importing the command modules registers their commands on ``cli``.
from registry.cli import (  # noqa: E402
    audit,
    batch,
    bench,
    bulletin,
    inbox,
    ingest,
    licenses,
    lifecycle,
    log,
    pdf,
    province,
    seal,
    serve,
    setup,
    sync,
    template,
)

__all__ += ["audit", "batch", "bench", "bulletin", "inbox", "ingest", "licenses", "lifecycle",
            "log", "pdf", "province", "seal", "serve", "setup", "sync", "template"]

if __name__ == "__main__":
    main()
