"""Progress of a long command on stderr: a bar on a terminal, nothing anywhere else.

The library reports how far it is through a ``progress(done, total)`` callback (``push_pending``,
``full_sync``, ``verify_paths``, ``audit_registry``, ``render_pending``, ``make_checkpoint``,
``ingest_file``); a command passes the callback :func:`progress_bar` gives it. The bar is drawn
only when stderr is a terminal and the command was not asked for ``--json``: a script, a pipe,
a log file or a Prefect worker sees no bar and no stray label.

Example::

    with progress_bar(_("pushing"), quiet=as_json) as progress:
        summary = push_pending(session, client, at=now(), progress=progress)
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import click

from registry.cli.terminal import columns

__all__ = ["Bar", "progress_bar"]


class Bar(Protocol):
    """What :func:`progress_bar` yields: ``bar(done, total)``, with a new label if given."""

    def __call__(self, done: int, total: int, label: str | None = None) -> None: ...


@contextmanager
def progress_bar(label: str, *, quiet: bool = False) -> Iterator[Bar | None]:
    """A callback drawing a bar labelled ``label`` on stderr, or None when ``quiet`` (the
    command prints ``--json``) or stderr is not a terminal. ``total`` may change between
    calls (0: not known yet)."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=1, label=label, file=sys.stderr,
                           width=_bar_width(label)) as bar:

        def update(done: int, total: int, label: str | None = None) -> None:
            bar.length = max(total, done, 1)
            if label is not None:
                bar.label, bar.width = label, _bar_width(label)
            bar.update(done - bar.pos)

        yield update


_AROUND = len("  [] 100%  00:00:00 ")
"""What the line holds besides the label and the bar itself."""


def _bar_width(label: str) -> int:
    """The bar's width: at most click's 36, less when the line would not fit the terminal
    (a wrapped line is redrawn below itself). Click counts a Chinese character as one
    column; it takes two."""
    return max(10, min(36, _terminal_width() - columns(label) - _AROUND))


def _terminal_width() -> int:
    """The columns of the terminal stderr is on (stdout may be a pipe or a file)."""
    try:
        width = os.get_terminal_size(sys.stderr.fileno()).columns
    except OSError:
        width = 0
    return width or shutil.get_terminal_size().columns
