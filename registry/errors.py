"""One error tree for the whole registry: every error licreg raises on purpose is here.

::

    RegistryError                     base; ``diagnostics()`` explains it to a person
    ├── ConfigError                   missing or bad settings and data files
    │   ├── FontError                 no usable CJK font
    │   ├── WeakPassphraseError       a new keystore's passphrase is too weak
    │   └── CityError                 a city, department or type cannot be set up as asked
    ├── CodeError (ValueError)        an identifier or check digit is malformed
    ├── NotFoundError (LookupError)   what was asked for does not exist
    │   ├── DepartmentNotFound
    │   ├── LicenseTypeNotFound
    │   ├── LicenseNotFound
    │   ├── BatchNotFound
    │   ├── RenditionNotFound         the license has no PDF yet
    │   ├── NotInLog                  no leaf, or no checkpoint covers it yet
    │   ├── SealNotFound              (also a SealError)
    │   └── TemplateNotFound          (also a TemplateError)
    ├── IngestError                   a department file cannot be read at all
    │   ├── RowError                  one row of a file is bad (file, line, element)
    │   ├── UndecodableFileError      neither UTF-8 nor GB18030 (byte offset)
    │   ├── LimitError                over a size, count or depth limit
    │   ├── MappingError              a column-mapping file is not valid
    │   ├── ArchiveError              a zip refused as a whole
    │   ├── StockPdfError             a department's PDF cannot be read
    │   ├── BatchBusyError            another run holds the batch
    │   └── BatchFailedError          the batch is recorded as failed
    ├── LifecycleError                a license step its status does not allow
    ├── SealError                     a seal cannot be made, loaded or used
    │   ├── NotAuthorizedError        the seal may not seal this license type
    │   ├── SealTransitionError       a seal step its status does not allow
    │   └── TimestampError            the time-stamping authority failed
    ├── TemplateError                 a template cannot be made, bound, published or used
    │   ├── LayoutError               a layout breaks the layout format or a rule
    │   ├── NumberingError            a numbering rule is malformed
    │   └── TemplateTransitionError   a template step its status does not allow
    ├── RenderError                   a license cannot be rendered
    │   └── QrError                   the text does not fit a QR code
    ├── VerificationError             a low-level check failed; carries its sub-indication
    └── AggregationError              the provincial platform could not be reached or refused
        ├── EnvelopeError             a request or response envelope is malformed
        ├── ItemSchemaError           one pushed item breaks the item schema
        └── ShareRequestError         a sharing request cannot be answered as asked

Low-level code raises; the ``verify_*`` entry points catch ``VerificationError`` and turn it
into a report, and the command line turns any ``RegistryError`` into one line on stderr.
Library errors are wrapped with ``raise ... from exc``; anything else is a bug.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import traceback
from pathlib import Path

from registry.clock import china_text, utc_now
from registry.i18n import _

__all__ = [
    "ERROR_LOG",
    "AggregationError",
    "ArchiveError",
    "BatchBusyError",
    "BatchFailedError",
    "BatchNotFound",
    "CityError",
    "CodeError",
    "ConfigError",
    "DepartmentNotFound",
    "EnvelopeError",
    "FontError",
    "IngestError",
    "ItemSchemaError",
    "LayoutError",
    "LicenseNotFound",
    "LicenseTypeNotFound",
    "LifecycleError",
    "LimitError",
    "MappingError",
    "NotAuthorizedError",
    "NotFoundError",
    "NotInLog",
    "NumberingError",
    "QrError",
    "RegistryError",
    "RenderError",
    "RenditionNotFound",
    "RowError",
    "SealError",
    "SealNotFound",
    "SealTransitionError",
    "ShareRequestError",
    "StockPdfError",
    "TemplateError",
    "TemplateNotFound",
    "TemplateTransitionError",
    "TimestampError",
    "UndecodableFileError",
    "VerificationError",
    "WeakPassphraseError",
    "log_unexpected",
]


class RegistryError(Exception):
    """Base of every error the registry raises on purpose."""

    def diagnostics(self) -> str:
        """A few lines for a person: what went wrong and, where known, what to do (no class
        names: a clerk reads this; JSON output carries machine codes)."""
        return str(self)


# -- settings and codes ------------------------------------------------------------------------


class ConfigError(RegistryError):
    """A setting or a data file shipped with licreg is missing or malformed."""


class FontError(ConfigError):
    """No usable font, or a font file that cannot be read."""


class WeakPassphraseError(ConfigError):
    """The passphrase a new keystore would be encrypted with is too short or too common
    (:func:`registry.seal.keyfile.check_new_passphrase`)."""


class CityError(ConfigError):
    """A city, department or license type cannot be set up as asked (bad code, in use …)."""


class CodeError(RegistryError, ValueError):
    """An identifier, code or check digit is malformed."""


# -- not found ---------------------------------------------------------------------------------


class NotFoundError(RegistryError, LookupError):
    """What was asked for (a license, batch, seal, template, department …) does not exist."""


class DepartmentNotFound(NotFoundError):
    """No department has this USCC (or id)."""


class LicenseTypeNotFound(NotFoundError):
    """This registry has no license type with this code."""


class LicenseNotFound(NotFoundError):
    """No license has this identifier."""


class BatchNotFound(NotFoundError):
    """No batch has this id."""


class RenditionNotFound(NotFoundError):
    """The license has no PDF rendition yet."""


class NotInLog(NotFoundError):
    """The identifier has no leaf, or no checkpoint covers its leaf yet."""


# -- ingest ------------------------------------------------------------------------------------


class IngestError(RegistryError):
    """A department file cannot be read; names the file and, where known, the position."""

    def __init__(self, message: str, *, file: str | None = None) -> None:
        super().__init__(_("{where}: {message}", where=file, message=message) if file
                         else message)
        self.file = file
        self.reason = message
        """What is wrong, without the file's name."""


class RowError(IngestError):
    """One row is bad: names the file, the line and the element."""

    def __init__(self, message: str, *, file: str, line: int, element: str | None = None) -> None:
        where = (_("line {line}, element {element}", line=line, element=element) if element
                 else _("line {line}", line=line))
        super().__init__(_("{where}: {message}", where=where, message=message), file=file)
        self.line = line
        self.element = element


class UndecodableFileError(IngestError):
    """The file is neither UTF-8 nor GB18030; ``offset`` is the first byte that is neither."""

    def __init__(self, message: str, *, file: str, offset: int) -> None:
        super().__init__(message, file=file)
        self.offset = offset

    def diagnostics(self) -> str:
        return "\n".join((str(self), _(
            "Save the file as 'CSV UTF-8' (or as CSV from a Chinese-locale Excel, which writes "
            "GBK) and upload it again.")))


class LimitError(IngestError):
    """An upload exceeds one of the ingest limits; ``limit`` names the field."""

    def __init__(self, message: str, *, file: str | None, limit: str, value: int) -> None:
        super().__init__(message, file=file)
        self.limit = limit
        self.value = value


class MappingError(IngestError):
    """A mapping file is not valid; the message lists every problem with its JSON path."""


class ArchiveError(IngestError):
    """An archive is refused as a whole (traversal, zip bomb, too many or too big members)."""


class StockPdfError(IngestError):
    """A department's PDF cannot be read; ``code`` is the reason code its row is rejected
    with."""

    def __init__(self, message: str, *, file: str, code: str = "UNREADABLE_FILE") -> None:
        super().__init__(message, file=file)
        self.code = code
        self.detail = message
        """The message without the file name (a row's report names the file itself)."""


class BatchBusyError(IngestError):
    """Another run holds the batch: this run must not touch it."""

    def __init__(self, batch_id: int, holder: str, until: dt.datetime) -> None:
        super().__init__(_("batch {id} is being ingested by {holder} (its lease runs until "
                           "{until}); nothing was done", id=batch_id, holder=holder,
                           until=china_text(until, seconds=True)))
        self.batch_id, self.holder, self.until = batch_id, holder, until


class BatchFailedError(IngestError):
    """A file of a batch cannot be read; the batch is recorded as failed with this error
    (rows stored before the failure stay stored)."""

    def __init__(self, message: str, *, batch_id: int) -> None:
        super().__init__(message)
        self.batch_id = batch_id

    def diagnostics(self) -> str:
        return "\n".join((str(self), _("(recorded as batch {id}, failed; see `licreg batch "
                                         "show {id}`)", id=self.batch_id)))


# -- licenses, seals, templates, renditions ----------------------------------------------------


class LifecycleError(RegistryError):
    """A lifecycle step that is not allowed: names the license, its status and the step."""


class SealError(RegistryError):
    """A seal cannot be made, loaded or used."""


class SealNotFound(NotFoundError, SealError):
    """No seal (or seal application) with this esID or number."""


class NotAuthorizedError(SealError):
    """The seal is not authorized for the license type it was asked to seal."""


class SealTransitionError(SealError):
    """A lifecycle step the seal's (or application's) current status does not allow."""


class TimestampError(SealError):
    """The time-stamping authority could not be reached, refused, or answered another
    request."""


class TemplateError(RegistryError):
    """A template cannot be made, bound, published or used."""


class TemplateNotFound(NotFoundError, TemplateError):
    """No template with this id, or none published for a type and department."""


class LayoutError(TemplateError):
    """A layout breaks the layout format or a layout rule; names where."""


class NumberingError(TemplateError):
    """A numbering rule is malformed, or a number cannot be made from it."""


class TemplateTransitionError(TemplateError):
    """A template step its current status does not allow."""


class RenderError(RegistryError):
    """A license cannot be rendered with this template (bad record, seal or layout)."""


class QrError(RenderError):
    """The text does not fit a version 1-10 QR code at error level M."""


# -- verification and aggregation --------------------------------------------------------------


class VerificationError(RegistryError):
    """A check failed. ``sub_indication`` is the ETSI EN 319 102-1 style reason."""

    def __init__(self, message: str, *, sub_indication: str) -> None:
        super().__init__(message)
        self.sub_indication = sub_indication

    def diagnostics(self) -> str:
        return f"{self.sub_indication}: {self}"


class AggregationError(RegistryError):
    """The provincial endpoint could not be reached, or refused a whole request."""


class EnvelopeError(AggregationError):
    """A request or response envelope is malformed as a whole."""


class ItemSchemaError(AggregationError):
    """One item does not have the shape of the interface (ack code ``SCHEMA``)."""

    def __init__(self, message: str, *, identifier: str = "", version: str = "") -> None:
        super().__init__(message)
        self.identifier = identifier
        self.version = version


class ShareRequestError(AggregationError):
    """A sharing request that cannot be answered as asked (HTTP 400)."""


ERROR_LOG = Path("logs") / "errors.log"
"""Where, under ``LICREG_HOME``, errors licreg did not foresee are logged by id."""


def log_unexpected(home: Path, exc: BaseException, context: str) -> tuple[str, Path | None]:
    """Log an error licreg did not foresee under a new id in ``home/logs/errors.log`` (0600):
    the traceback's frames and the error's class, never its message or source lines, which may
    hold a holder's data. Returns the id and the log (None when it could not be written)."""
    error_id = secrets.token_hex(4)
    log = home / ERROR_LOG
    frames = "".join(f"  {f.filename}:{f.lineno} in {f.name}\n"
                     for f in traceback.extract_tb(exc.__traceback__))
    try:
        log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(f"== {error_id} {utc_now().isoformat()} {type(exc).__qualname__} "
                    f"({context})\n{frames}\n")
    except OSError:
        return error_id, None
    return error_id, log
