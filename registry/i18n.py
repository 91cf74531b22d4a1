"""Chinese first: what a clerk, auditor or official reads is Chinese unless they ask for English.

Messages are written in English in the code — the gettext *msgid* — and translated in gettext
catalogues, one per package so that each area keeps its own:
``registry/locale/zh_CN/LC_MESSAGES/<package>.po`` (``ingest.po``, ``verify.po`` …). A catalogue
is compiled with Babel when first used, so the ``.po`` file is the only source. Machine codes
(``EXPIRED``, ``HASH_FAILURE``) never pass through here: JSON keeps them beside the text.

::

    from registry.i18n import _, N_, ngettext

    raise IngestError(_("missing required column(s): {columns}", columns=names), file=name)
    click.echo(ngettext("{n} file", "{n} files", n, n=n))
    TITLES = {"EXPIRED": N_("expired")}          # marked here, translated where shown: _(TITLES[c])

The language is a context: ``zh`` (the default) or ``en``. The command line sets it once from
``--lang`` or ``LICREG_LANG`` (:class:`registry.config.Settings`); code that renders for another
reader scopes it: ``with language("en"): ...``. ``python -m registry.i18n`` brings every
catalogue up to date with the messages in the code (new ones empty, for a translator), and
``tests/test_i18n.py`` fails while any message lacks its Chinese.

>>> with language("zh"):
...     _("error: {detail}", detail="…")
'错误：…'
>>> with language("en"):
...     _("error: {detail}", detail="…")
'error: …'
"""

from __future__ import annotations

import datetime as dt
import errno
import gettext
import io
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_LANGUAGE",
    "KEYWORDS",
    "LANGUAGES",
    "LOCALE_DIR",
    "N_",
    "SEPARATOR",
    "MessageId",
    "Nn_",
    "_",
    "catalogue_path",
    "current_language",
    "domains",
    "language",
    "named",
    "ngettext",
    "os_reason",
    "raw_gettext",
    "raw_ngettext",
    "set_language",
    "source_messages",
    "translated",
    "update_catalogues",
    "word",
]

LANGUAGES = ("zh", "en")
"""The languages licreg speaks: Chinese, and English on request."""
DEFAULT_LANGUAGE = "zh"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
"""``<locale>/LC_MESSAGES/<package>.po`` for every language but English (the msgids)."""
_LOCALES = {"zh": "zh_CN"}
_current: ContextVar[str] = ContextVar("licreg_language", default=DEFAULT_LANGUAGE)


def _checked(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; licreg speaks {', '.join(LANGUAGES)}")
    return lang


def current_language() -> str:
    return _current.get()


def set_language(lang: str) -> None:
    """Speak ``lang`` from now on, in this context (the command line calls this once)."""
    _current.set(_checked(lang))


@contextmanager
def language(lang: str) -> Iterator[None]:
    """Speak ``lang`` inside the block."""
    token = _current.set(_checked(lang))
    try:
        yield
    finally:
        _current.reset(token)


@cache
def _translations(lang: str) -> gettext.NullTranslations:
    """Every catalogue of ``lang``, compiled in memory and chained (an empty chain for
    English, whose messages are the msgids)."""
    chain: gettext.NullTranslations = gettext.NullTranslations()
    locale = _LOCALES.get(lang)
    if locale is None:
        return chain
    # Babel takes 0.1 s to import: only a process that speaks Chinese pays it, once.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as f:
            catalog = read_po(f, locale=locale)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        translations = gettext.GNUTranslations(compiled)
        translations.add_fallback(chain)
        chain = translations
    return chain


def _(message: str, /, **params: Any) -> str:
    """``message`` in the current language, with ``{name}`` fields filled from ``params``."""
    text = _translations(_current.get()).gettext(message)
    return text.format(**params) if params else text


def ngettext(singular: str, plural: str, n: int, /, **params: Any) -> str:
    """The singular or plural form for ``n`` in the current language, fields filled."""
    text = _translations(_current.get()).ngettext(singular, plural, n)
    return text.format(**params)


def N_(message: str) -> str:
    """Mark ``message`` for translation where it is defined (a table built at import time);
    it is translated where it is shown, with :func:`_`."""
    return message


def Nn_(singular: str, plural: str) -> tuple[str, str]:
    """Mark a plural message for translation where it is defined, as :func:`N_` does."""
    return singular, plural


SEPARATOR = N_("list|, ")
"""Between the items of a list shown to people (、 in Chinese): ``word(SEPARATOR).join(…)``."""


def word(marked: str) -> str:
    """A short word in the current language. The catalogues are one lookup, so a bare word
    that means different things in different places ("file": 备案 for a seal, 文件 elsewhere)
    is marked with a context, ``N_("seal step|file")``, as ``pgettext`` would; in English the
    context is dropped.

    >>> with language("zh"):
    ...     word(N_("seal step|file"))
    '备案'
    >>> with language("en"):
    ...     word(N_("seal step|file"))
    'file'
    """
    text = _translations(_current.get()).gettext(marked)
    return marked.partition("|")[2] if text == marked and "|" in marked else text


def named(names: Mapping[str, str], code: str | None) -> str:
    """The name for people of a machine code, from a table of marked words (``N_("expired")``
    or ``N_("context|word")``); the code itself when the table has none, — for no code."""
    if code is None:
        return "—"
    marked = names.get(code)
    return code if marked is None else word(marked)


def raw_gettext(message: str) -> str:
    """``message`` in the current language, fields left unfilled (for code that formats the
    text itself, as click does)."""
    return _translations(_current.get()).gettext(message)


def raw_ngettext(singular: str, plural: str, n: int) -> str:
    """The form for ``n`` in the current language, fields left unfilled."""
    return _translations(_current.get()).ngettext(singular, plural, n)


_OS_REASONS = {
    errno.ENOENT: N_("no such file or folder"),
    errno.EACCES: N_("permission denied"),
    errno.EPERM: N_("permission denied"),
    errno.EISDIR: N_("it is a folder, not a file"),
    errno.ENOTDIR: N_("a part of the path is not a folder"),
    errno.ENOSPC: N_("no space left on the disk"),
    errno.EEXIST: N_("it already exists"),
}


def os_reason(exc: OSError) -> str:
    """Why a file operation failed, in the current language (the system's own words, which
    are English, for the rare reasons not listed)."""
    reason = _OS_REASONS.get(exc.errno or 0)
    return _(reason) if reason else str(exc.strerror or exc)


KEYWORDS = {"_": None, "N_": None, "Nn_": (1, 2), "ngettext": (1, 2)}
"""What the extraction looks for (Babel's keyword spec)."""
_REPO = LOCALE_DIR.parent.parent
_FIXED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # catalogue dates stay put between updates


def domains() -> dict[str, tuple[Path, str]]:
    """Catalogue name → (folder, file pattern) of the code it translates: one per package of
    ``registry/``, ``core`` for the modules directly in it, ``flows`` for the flows."""
    found = {"core": (_REPO / "registry", "*.py"), "flows": (_REPO / "flows", "**.py")}
    for package in sorted((_REPO / "registry").iterdir()):
        if (package / "__init__.py").exists():
            found[package.name] = (package, "**.py")
    return found


MessageId = str | tuple[str, str]
"""A msgid: the English text, or (singular, plural) for :func:`ngettext`."""


def translated(message: Any) -> bool:
    """Whether a catalogue entry has its translation (every form, for a plural)."""
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return bool(strings) and all(strings)


def source_messages(folder: Path, pattern: str) -> dict[MessageId, list[tuple[str, int]]]:
    """msgid → where it is used (file, line), for every marked message of the files of
    ``folder`` matching ``pattern``."""
    # Babel's extraction is only needed by the catalogue tools, not by a running licreg.
    from babel.messages.extract import extract_from_dir

    found: dict[MessageId, list[tuple[str, int]]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            folder, method_map=[(pattern, "python")], keywords=KEYWORDS):
        msgid = (message[0], message[1]) if isinstance(message, tuple) else message
        where = (folder / filename).relative_to(_REPO).as_posix()
        found.setdefault(msgid, []).append((where, lineno))
    return found


def catalogue_path(domain: str, lang: str = "zh") -> Path:
    return LOCALE_DIR / _LOCALES[lang] / "LC_MESSAGES" / f"{domain}.po"


def update_catalogues() -> dict[str, int]:
    """Bring every catalogue up to date with its code: new messages are added untranslated,
    ones no longer used are dropped, translations are kept. Untranslated entries per
    catalogue."""
    # Only the catalogue tools write catalogues.
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    untranslated: dict[str, int] = {}
    for lang, locale in _LOCALES.items():
        for domain, (folder, pattern) in domains().items():
            messages = source_messages(folder, pattern)
            po = catalogue_path(domain, lang)
            old = read_po(po.open("rb"), locale=locale) if po.exists() else None
            if not messages and old is None:
                continue
            catalog = Catalog(locale=locale, domain=domain, project="licreg", version="",
                              copyright_holder="the licreg authors", msgid_bugs_address="",
                              last_translator="licreg", language_team="licreg",
                              fuzzy=False, creation_date=_FIXED, revision_date=_FIXED)
            for msgid, places in sorted(messages.items(), key=lambda m: str(m[0])):
                kept = old.get(msgid) if old is not None else None
                plural = isinstance(msgid, tuple)
                string: str | tuple[str, ...]
                if kept is not None and plural == isinstance(kept.string, tuple):
                    string = tuple(kept.string or ()) if plural else str(kept.string or "")
                else:  # new, or its plural form came or went: translate it again
                    kept, string = None, ("",) if plural else ""
                catalog.add(msgid, string, locations=places[:3])
                if kept is None or not translated(kept):
                    untranslated[domain] = untranslated.get(domain, 0) + 1
            po.parent.mkdir(parents=True, exist_ok=True)
            with po.open("wb") as f:  # no line numbers: a catalogue changes when messages do
                write_po(f, catalog, sort_output=True, width=100, include_lineno=False)
    return untranslated


if __name__ == "__main__":
    for name, n in sorted(update_catalogues().items()):
        print(f"{name}.po: {n} message(s) to translate", file=sys.stderr)
