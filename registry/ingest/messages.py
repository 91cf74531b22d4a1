"""Row reasons said in the reader's language when they are shown, not when they are found.

A batch is judged once and read many times, by a clerk in Chinese, by an operator in English,
so a reason is kept as its message — the English msgid, marked with :func:`~registry.i18n.N_`
where it is written — and its fields (:func:`text`), and rendered where it is shown
(:func:`render`, :func:`reason_message`). A field may itself be a :func:`text` (a part of the
sentence that needs translating too, e.g. what :class:`datetime.date` said was wrong) or a list
(joined with the language's list separator, ``、`` in Chinese). Every reason also keeps
``message``, its English text, for readers that predate this (and rows stored before it).

>>> from registry.i18n import language
>>> t = text(N_("{title} ({element}) is empty"), title="持证主体", element="CZZT")
>>> with language("zh"):
...     render(t)
'持证主体（CZZT）为空'
>>> with language("en"):
...     render(t)
'持证主体 (CZZT) is empty'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from registry.i18n import N_, _, language

__all__ = ["NOTES", "Text", "english", "listed", "reason", "reason_message", "render", "text"]

Text = dict[str, Any]
"""``{"msgid": English message with {fields}, "params": {field: str | int | list | Text}}``."""



def listed(items: list[str] | tuple[str, ...]) -> str:
    """``items`` one after the other as the current language lists them (``a, b`` / ``a、b``).
    Its own message, not a bare ``", "``, which other catalogues translate their own way."""
    if not items:
        return ""
    out = str(items[0])
    for item in items[1:]:
        out = _("{items}, {item}", items=out, item=item)
    return out


def text(msgid: str, /, **params: Any) -> Text:
    """A message to be said later, in the language of whoever reads it."""
    return {"msgid": msgid, "params": params}


def _value(value: Any) -> Any:
    if isinstance(value, dict) and "msgid" in value:
        return render(value)
    if isinstance(value, list | tuple):
        return listed([str(_value(v)) for v in value])
    return value


def render(message: Text | str) -> str:
    """``message`` in the current language (a plain string is shown as it is)."""
    if isinstance(message, str):
        return message
    params = {k: _value(v) for k, v in dict(message.get("params") or {}).items()}
    return _(str(message["msgid"]), **params)


def english(message: Text | str) -> str:
    """``message`` in English (what a reason keeps as its ``message``)."""
    with language("en"):
        return render(message)


def reason(code: str, element: str | None, message: Text | str) -> dict[str, Any]:
    """A row reason: ``{"code", "element", "message"}`` (English), plus ``"text"`` to say it
    in any language."""
    found: dict[str, Any] = {"code": code, "element": element, "message": english(message)}
    if not isinstance(message, str):
        found["text"] = message
    return found


NOTES = {
    "UNCHANGED": N_("identical to registered {identifier}; nothing issued"),
    "CHANGED": N_("new version of {predecessor}"),
}
"""The notes issuing adds to accepted rows (registry.license.issue), kept with their fields;
:func:`reason_message` reads the fields back out of the English message of rows stored
before notes kept them."""


def _pattern(msgid: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", msgid)
    return re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)"
                              for i, p in enumerate(parts)) + r"\Z")


_NOTE_PATTERNS = {code: (msgid, _pattern(msgid)) for code, msgid in NOTES.items()}


def reason_message(found: Mapping[str, Any]) -> str:
    """A reason's message in the current language (its stored English one when it was kept
    without its text, unless it is one of the :data:`NOTES`)."""
    kept = found.get("text")
    if isinstance(kept, dict):
        return render(kept)
    message = str(found.get("message", ""))
    note = _NOTE_PATTERNS.get(str(found.get("code")))
    fields = note[1].match(message) if note else None
    return _(note[0], **fields.groupdict()) if note and fields else message
