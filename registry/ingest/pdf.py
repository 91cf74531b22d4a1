"""Reading an existing license PDF (存量证照) into one row of elements.

A license already issued as a PDF is read, in this order (the first that yields elements wins):

1. the signed record: a PDF produced by this product carries the exact signed bytes (RFC 8785
   JSON of the elements) in its document information dictionary under ``/LicenseRecord``;
   they are taken as they are, so such a PDF round-trips exactly (re-ingesting it is a no-op);
2. the AcroForm fields, named by element code (``ZZBH``), Chinese title (证照编号) or the
   department's own name through the mapping;
3. the text layer, through the type's extraction patterns (its ``x-pdf-text``).

A file that is not a PDF, is cut short (no ``%%EOF``), is encrypted with a password, cannot
be parsed, or holds none of the three raises :class:`StockPdfError` (code ``UNREADABLE_FILE``); a
signed record of another license type raises it with code ``WRONG_TYPE``. The readers turn it
into a rejected row of the batch, never a failed batch.

Rows are keyed by element code (every non-derived element of the type is a column, ``""`` when
the PDF lacks it), plus any form field that names no element under its own name.

>>> fields = read_pdf(Path("fixtures/formats/form.pdf").read_bytes(), file="form.pdf",
...                   options=ReadOptions(license_type=lt))  # doctest: +SKIP
>>> fields["ZZBH"]                                                              # doctest: +SKIP
'330102000000001'
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from registry.errors import StockPdfError
from registry.i18n import N_
from registry.ingest.frames import Problem, ReadOptions, frame, problem
from registry.ingest.messages import Text, render, text
from registry.ingest.normalize import normalize_code

__all__ = [
    "ACTIVE_CONTENT",
    "RECORD_KEY",
    "UNREADABLE_FILE",
    "WRONG_TYPE",
    "Document",
    "UnreadablePdf",
    "documents_frame",
    "pdf_problem",
    "read_pdf",
    "read_pdf_file",
]

RECORD_KEY = "/LicenseRecord"
"""Document-information key holding a product PDF's signed record (RFC 8785 JSON)."""
UNREADABLE_FILE = "UNREADABLE_FILE"
"""Reason code: a file (a PDF, an archive member) cannot be read at all."""
WRONG_TYPE = "WRONG_TYPE"
"""Reason code: a PDF's signed record is a license of another type than the batch's."""

ACTIVE_CONTENT = "ACTIVE_CONTENT"
"""Reason code: a PDF holds JavaScript, a /Launch action or an embedded file of its own."""

MAX_OBJECTS = 100_000
"""PDF objects looked through for active content; a license PDF has a few hundred."""

_ACTIONS = {"/JavaScript": N_("JavaScript"),
            "/Launch": N_("a /Launch action (it starts a program)"),
            "/RichMediaExecute": N_("a /RichMediaExecute action (it runs embedded media)")}

MAX_TEXT_PAGES = 5
"""Pages whose text is searched; a license face is one or two pages."""


@dataclass(frozen=True)
class Document:
    """One PDF as one row."""

    line: int
    """The row's ``LINE`` (1 for a single PDF; the member's position in an archive)."""
    name: str
    """The file or member name."""
    fields: Mapping[str, str]
    """Element code (or unmatched field name) → text."""
    problems: tuple[Problem, ...]
    """Why it could not be read (then ``fields`` is empty)."""


def _resolver(options: ReadOptions) -> dict[str, str]:
    """Normalized field name → element code, for the batch's type and mapping."""
    index: dict[str, str] = {}
    if options.license_type is not None:
        for e in options.license_type.elements:
            index[normalize_code(e.code)] = e.code
            index[normalize_code(e.title)] = e.code
    for name, code in options.mapping.items():
        index[normalize_code(name)] = code
    return index


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return "；".join(_text(v) for v in value)
    text = str(value)
    return text[1:] if text.startswith("/") else text  # a NameObject (check box state)


class UnreadablePdf(StockPdfError):
    """A :class:`~registry.errors.StockPdfError` that keeps its message to say it in the
    language of whoever reads the row's report (``text``)."""

    def __init__(self, message: Text, *, file: str, code: str = "UNREADABLE_FILE") -> None:
        super().__init__(render(message), file=file, code=code)
        self.text = message


def pdf_problem(exc: StockPdfError) -> Text | str:
    """What a row's report says of an unreadable PDF (without the file name)."""
    return exc.text if isinstance(exc, UnreadablePdf) else exc.detail


def read_pdf(data: bytes, *, file: str, options: ReadOptions) -> dict[str, str]:
    """The elements of one license PDF (steps 1–3 of the module docstring)."""
    from pypdf import PdfReader  # 0.13 s to import: only PDF uploads pay it

    head = data[:1024]
    if b"%PDF-" not in head:
        raise UnreadablePdf(text(N_("not a PDF (it starts with {start})"),
                                 start=repr(data[:8])), file=file)
    if b"%%EOF" not in data[-2048:]:
        raise UnreadablePdf(text(N_("truncated: the file has no %%EOF end marker (an "
                                    "interrupted upload?)")), file=file)
    try:
        with warnings.catch_warnings():
            # pypdf warns about every repairable oddity; a broken file raises instead.
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                raise UnreadablePdf(text(N_("encrypted: a password is needed to open it; "
                                            "upload the PDF without a password")), file=file)
            active = _active_content(reader)
            if active is not None:
                raise UnreadablePdf(text(N_("active content: it holds {what}, which a PDF viewer "
                                            "runs or opens; print it to a new PDF (which keeps "
                                            "only what is shown) and upload that"), what=active),
                                    file=file, code=ACTIVE_CONTENT)
            record = _record(reader, file, options)
            if record is not None:
                return record
            fields = _form_fields(reader, options)
            if any(fields.values()):
                return fields
            fields = _text_fields(reader, options)
    except StockPdfError:
        raise
    except Exception as exc:  # pypdf raises many types on a broken file; all mean unreadable
        raise UnreadablePdf(text(N_("malformed PDF ({error})"),
                                 error=f"{type(exc).__name__}: {exc}"), file=file) from exc
    if not any(fields.values()):
        raise UnreadablePdf(text(N_("no license found in it: no /LicenseRecord, no filled form "
                                    "fields and no labelled text the type's extraction rule "
                                    "recognises")), file=file)
    return fields


def _active_content(reader: Any) -> Text | None:
    """What active content the PDF holds (None when none), looking through every object
    reachable from its trailer: actions that run code (/JavaScript, /JS, /Launch, including
    those of /OpenAction and /AA), and embedded files other than this product's own two
    attachments (a signed license carries ``license.json`` and ``signature.der``)."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject  # as PdfReader

    # the renderer's modules are heavy (fonts, QR): only a PDF upload pays their import
    from registry.render.pdf.write import ATTACHMENT_RECORD, ATTACHMENT_SIGNATURE

    own = {ATTACHMENT_RECORD, ATTACHMENT_SIGNATURE}
    seen: set[tuple[int, int]] = set()
    todo: list[Any] = [reader.trailer]
    while todo:
        obj = todo.pop()
        if isinstance(obj, IndirectObject):
            if (obj.idnum, obj.generation) in seen:
                continue
            seen.add((obj.idnum, obj.generation))
            if len(seen) > MAX_OBJECTS:
                raise ValueError(f"more than {MAX_OBJECTS} objects")
            obj = obj.get_object()
        if isinstance(obj, DictionaryObject):
            action = _ACTIONS.get(str(obj.get("/S")))
            if action is not None:
                return text(action)
            if "/JS" in obj:
                return text(_ACTIONS["/JavaScript"])
            if "/EF" in obj:
                name = _text(obj.get("/UF") or obj.get("/F"))
                if name not in own:
                    return text(N_("an embedded file ({name})"), name=repr(name))
            todo.extend(dict.values(obj))
        elif isinstance(obj, ArrayObject):
            todo.extend(obj)
    return None


def _record(reader: Any, file: str, options: ReadOptions) -> dict[str, str] | None:
    info = reader.metadata
    raw = None if info is None else info.get(RECORD_KEY)
    if raw is None:
        return None
    written = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    try:
        record = json.loads(written)
    except ValueError as exc:
        raise UnreadablePdf(text(N_("{key} is not JSON ({error})"), key=RECORD_KEY, error=str(exc)),
                            file=file) from exc
    if not isinstance(record, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in record.items()):
        raise UnreadablePdf(text(N_("{key} is not an object of element codes to text"),
                                 key=RECORD_KEY), file=file)
    kind = record.get("ZZLXDM")
    expected = options.license_type.code if options.license_type else None
    if expected is not None and kind is not None and kind != expected:
        raise UnreadablePdf(text(N_("its signed record is a license of type {kind}, not "
                                    "{expected}"), kind=kind, expected=expected),
                            file=file, code=WRONG_TYPE)
    return record


def _form_fields(reader: Any, options: ReadOptions) -> dict[str, str]:
    index = _resolver(options)
    out: dict[str, str] = {}
    for name, field in (reader.get_fields() or {}).items():
        key = index.get(normalize_code(str(name)), str(name))
        value = _text(field.get("/V"))
        if value or key not in out:
            out[key] = value
    return out


def _text_fields(reader: Any, options: ReadOptions) -> dict[str, str]:
    if options.license_type is None:
        return {}
    text = "\n".join(page.extract_text() or "" for page in reader.pages[:MAX_TEXT_PAGES])
    out: dict[str, str] = {}
    for pattern in options.license_type.rules.pdf_text:
        m = pattern.search(text)
        if m is None:
            continue
        for code, value in m.groupdict().items():
            if value and code not in out:
                out[code] = value
    return out


def documents_frame(docs: Sequence[Document], options: ReadOptions, *,
                    progress: tuple[int, int] | None = None,
                    source: dict[str, Any] | None = None) -> pd.DataFrame:
    """A chunk of PDF rows: every non-derived element of the type, then other fields."""
    columns: list[str] = []
    if options.license_type is not None:
        columns = [e.code for e in options.license_type.elements if not e.derived]
    known = set(columns)
    for doc in docs:
        for key in doc.fields:
            if key not in known:
                known.add(key)
                columns.append(key)
    rows = [[doc.fields.get(c, "") for c in columns] for doc in docs]
    problems = {i: doc.problems for i, doc in enumerate(docs) if doc.problems}
    return frame(columns, rows, [d.line for d in docs], None, problems, progress=progress,
                 source=source or {"format": "pdf"})


def read_pdf_file(path: Path, chunk_rows: int, options: ReadOptions) -> Iterator[pd.DataFrame]:
    """One PDF uploaded on its own: one chunk of one row (rejected when unreadable)."""
    options.limits.check("file_bytes", path.stat().st_size, file=str(path))
    data = path.read_bytes()
    try:
        doc = Document(1, path.name, read_pdf(data, file=path.name, options=options), ())
    except StockPdfError as exc:
        doc = Document(1, path.name, {}, (problem(exc.code, None, pdf_problem(exc)),))
    return iter([documents_frame([doc], options, progress=(1, 1))])


