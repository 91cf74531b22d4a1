"""One error tree for the whole registry.

::

    RegistryError                    base; ``diagnostics()`` explains it to a person
    ├── ConfigError                  missing or bad settings (LICREG_HOME, passphrase, URL)
    ├── IngestError                  a department file cannot be read at all
    │   └── RowError                 one row of a file is bad (file, line, element)
    ├── CodeError                    an identifier or check digit is malformed
    ├── SealError                    a seal cannot be made, loaded or used
    │   └── NotAuthorizedError       the seal may not seal this license type
    ├── VerificationError            a low-level check failed; carries its sub-indication
    └── AggregationError             the provincial endpoint could not be reached or refused

Low-level code raises; the ``verify_*`` entry points catch ``VerificationError`` and turn it
into a report. Library errors are wrapped with ``raise ... from exc``.
"""

from __future__ import annotations

__all__ = [
    "AggregationError",
    "CodeError",
    "ConfigError",
    "IngestError",
    "NotAuthorizedError",
    "RegistryError",
    "RowError",
    "SealError",
    "VerificationError",
]


class RegistryError(Exception):
    """Base of every error the registry raises on purpose."""

    def diagnostics(self) -> str:
        """A few lines for a person: what went wrong and, where known, what to do."""
        return f"{type(self).__name__}: {self}"


class ConfigError(RegistryError):
    """A setting is missing or malformed."""


class CodeError(RegistryError, ValueError):
    """An identifier, code or check digit is malformed."""


class IngestError(RegistryError):
    """A department file cannot be read; names the file and, where known, the position."""

    def __init__(self, message: str, *, file: str | None = None) -> None:
        super().__init__(f"{file}: {message}" if file else message)
        self.file = file


class RowError(IngestError):
    """One row is bad: names the file, the line and the element."""

    def __init__(self, message: str, *, file: str, line: int, element: str | None = None) -> None:
        where = f"line {line}" + (f", element {element}" if element else "")
        super().__init__(f"{where}: {message}", file=file)
        self.line = line
        self.element = element


class SealError(RegistryError):
    """A seal cannot be made, loaded or used."""


class NotAuthorizedError(SealError):
    """The seal is not authorized for the license type it was asked to seal."""


class VerificationError(RegistryError):
    """A check failed. ``sub_indication`` is the ETSI EN 319 102-1 style reason."""

    def __init__(self, message: str, *, sub_indication: str) -> None:
        super().__init__(message)
        self.sub_indication = sub_indication

    def diagnostics(self) -> str:
        return f"{self.sub_indication}: {self}"


class AggregationError(RegistryError):
    """The provincial endpoint could not be reached, or refused a whole request."""
