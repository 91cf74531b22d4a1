"""What a terminal shows: widths in columns (a Chinese character takes two), help cut to
fit, commands whose help is in the reader's language, and values with their control and
format characters escaped (:func:`visible`), so a value never drives the terminal."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import click

from registry.i18n import _
from registry.ingest.normalize import FORMAT_CHARACTERS

__all__ = ["LocalizedCommand", "LocalizedGroup", "columns", "json_visible", "pad", "shortened",
           "visible"]

_UNSEEN = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{FORMAT_CHARACTERS}]")
_UNSEEN_IN_JSON = re.compile(f"[\x7f-\x9f\u2028\u2029{FORMAT_CHARACTERS}]")


def visible(text: str) -> str:
    """``text`` with every control or format character written as its escape (``\\x1b``,
    ``\\n``, ``\\u202e``): a terminal shows what the value holds and is never driven by it.

    >>> print(visible("示范\\x1b[31m公司\\u200b"))
    示范\\x1b[31m公司\\u200b
    """
    return _UNSEEN.sub(lambda m: ascii(m.group())[1:-1], text)


def json_visible(dumped: str) -> str:
    """JSON text (``json.dumps(..., ensure_ascii=False)``, which escapes only U+0000-U+001F)
    with the other control and format characters escaped as ``\\uXXXX``: the same JSON."""
    return _UNSEEN_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)


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
