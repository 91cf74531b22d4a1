"""What a terminal shows: widths in columns (a Chinese character takes two), help cut to
fit, and commands whose help is in the reader's language."""

from __future__ import annotations

import unicodedata
from typing import Any

import click

from registry.i18n import _

__all__ = ["LocalizedCommand", "LocalizedGroup", "columns", "pad", "shortened"]


def columns(text: str) -> int:
    """The terminal columns ``text`` takes (a Chinese character takes two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal columns."""
    return text + " " * max(width - columns(text), 0)


def shortened(text: str, limit: int) -> str:
    """``text`` cut at a word (or, in Chinese, a character) to at most ``limit`` columns, as
    click shortens help."""
    if columns(text) <= limit:
        return text
    cut = text
    while columns(cut) > max(limit - 3, 1):
        cut = cut[:-1]
    if " " in cut and columns(text) == len(text):
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(",;:，；：、") + "..."


class LocalizedCommand(click.Command):
    """A command whose help (its own and its options') is shown in the reader's language: the
    help texts are the English msgids, marked with ``N_``."""

    def _spoken(self) -> list[tuple[Any, str | None]]:
        saved: list[tuple[Any, str | None]] = [(self, self.help)]
        saved += [(p, p.help) for p in self.params if isinstance(p, click.Option)]
        for thing, text in saved:
            thing.help = _(text) if text else text
        return saved

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        saved = self._spoken()
        try:
            super().format_help(ctx, formatter)
        finally:
            for thing, text in saved:
                thing.help = text

    def get_short_help_str(self, limit: int = 45) -> str:
        saved = self.help
        text = _(saved) if saved else ""
        if text.isascii() or self.short_help:
            self.help = text or saved
            try:
                return super().get_short_help_str(limit)
            finally:
                self.help = saved
        return shortened(text, limit)  # Chinese: cut by terminal columns, not characters


class LocalizedGroup(LocalizedCommand, click.Group):
    """A group of :class:`LocalizedCommand`, its own help in the reader's language too."""

    command_class = LocalizedCommand
