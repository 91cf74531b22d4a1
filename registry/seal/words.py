"""Short words for people — statuses, steps, labels, list separators — in the reader's language.

Every catalogue is one lookup (:mod:`registry.i18n` chains them), so a bare word such as
"file" (备案 for a seal, 文件 elsewhere) needs a context, as ``pgettext`` would give it: such a
word is marked ``N_("context|word")`` and shown with :func:`word`; in English the context is
dropped.

>>> from registry.i18n import N_, language
>>> with language("zh"):
...     word(N_("seal step|file"))
'备案'
>>> with language("en"):
...     word(N_("seal step|file"))
'file'
"""

from __future__ import annotations

from registry.i18n import N_, _

__all__ = ["SEPARATOR", "word"]

SEPARATOR = N_("list|, ")
"""Between the items of a list shown to people (、 in Chinese)."""


def word(marked: str) -> str:
    """The word marked ``N_("context|word")`` in the reader's language."""
    text = _(marked)
    return marked.partition("|")[2] if text == marked else text
