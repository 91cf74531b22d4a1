"""What the transparency log says about one license, handed to the Verifier as evidence.

The log is checked before the signature (from ``proof.json`` in a bundle, or from the whole
stored log for ``verify --registry``); the result travels as a :class:`LogEvidence` that the
:class:`~registry.verify.core.Verifier` turns into the "log_inclusion" check, and whose
checkpoint time is the proof of existence (POE) that keeps a license valid after its seal is
revoked or expires. The Verifier itself compares the leaf with the signature (same identifier,
same dataHash), so evidence for another license never counts.

Example::

    evidence = LogEvidence.included(identifier=ident, data_hash=digest, poe=cp_time,
                                    detail="leaf 17 in checkpoint of size 120")
    report = verifier.verify(record, der, subject=ident, log=evidence)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from registry.verify.report import CheckStatus

__all__ = ["LogEvidence"]


@dataclass(frozen=True)
class LogEvidence:
    """The log_inclusion check as established from the log, plus the POE it yields."""

    status: CheckStatus
    """VALID when a trusted checkpoint includes the license's sealing leaf."""
    reason: str
    """"ok", or the sub-indication (LOG_INCLUSION_FAILURE, LOG_NOT_CHECKPOINTED …)."""
    detail: str
    """A sentence for a person."""
    identifier: str | None = None
    """The identifier in the sealing leaf."""
    data_hash: bytes | None = None
    """The dataHash in the sealing leaf."""
    poe: dt.datetime | None = None
    """The checkpoint time: the signature existed then (only when VALID)."""

    @classmethod
    def included(
        cls, *, identifier: str, data_hash: bytes, poe: dt.datetime, detail: str
    ) -> LogEvidence:
        """The leaf is in a trusted checkpoint signed at ``poe``."""
        return cls(CheckStatus.VALID, "ok", detail, identifier, data_hash, poe)

    @classmethod
    def failed(cls, reason: str, detail: str) -> LogEvidence:
        """The log contradicts the license, or cannot include it."""
        return cls(CheckStatus.INVALID, reason, detail)

    @classmethod
    def undecided(cls, reason: str, detail: str) -> LogEvidence:
        """The log cannot say yet (no checkpoint, untrusted log key …)."""
        return cls(CheckStatus.INDETERMINATE, reason, detail)
