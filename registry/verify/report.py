"""Verification reports: an indication, a sub-indication and one result per check. Never a bool.

The vocabulary is ETSI EN 319 102-1's (PASSED / FAILED / INDETERMINATE with sub-indications),
see DESIGN.md "Verdict vocabulary". The indication is derived from the checks in exactly one
place, :meth:`VerificationReport.from_checks`: FAILED wins over INDETERMINATE, which wins over
PASSED, and the sub-indication is the reason of the first check that decided it.

>>> report = VerificationReport.from_checks(
...     subject="demo", identifier=None, validation_time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
...     checks=[CheckResult("format", CheckStatus.INVALID, FORMAT_FAILURE, "not DER")])
>>> (report.indication, report.sub_indication)
(<Indication.FAILED: 'FAILED'>, 'FORMAT_FAILURE')
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn

from registry.i18n import N_, _, named

__all__ = [
    "CHECK_NAMES",
    "FORMAT_FAILURE",
    "HASH_FAILURE",
    "LOG_CONSISTENCY_FAILURE",
    "LOG_FORK",
    "LOG_INCLUSION_FAILURE",
    "LOG_NOT_CHECKPOINTED",
    "LOG_PROOF_MISSING",
    "NOT_AUTHORIZED",
    "NOT_YET_VALID",
    "NO_CERTIFICATE_CHAIN_FOUND",
    "OUT_OF_BOUNDS_NO_POE",
    "RECORD_MISSING",
    "REVOKED",
    "REVOKED_NO_POE",
    "SIG_CRYPTO_FAILURE",
    "CheckResult",
    "CheckStatus",
    "Indication",
    "Supersession",
    "VerificationReport",
    "check_title",
    "coverage",
    "indication_text",
    "license_status_text",
    "license_status_verdict",
    "overall",
    "reason_text",
    "status_text",
]


class Indication(StrEnum):
    """The bottom line (ETSI EN 319 102-1)."""

    PASSED = "PASSED"
    FAILED = "FAILED"
    INDETERMINATE = "INDETERMINATE"


def overall(indications: Iterable[str]) -> Indication:
    """The bottom line of many: FAILED if any failed, else INDETERMINATE if any could not be
    decided, else PASSED."""
    seen = set(indications)
    return next((i for i in (Indication.FAILED, Indication.INDETERMINATE) if i in seen),
                Indication.PASSED)


HASH_FAILURE = "HASH_FAILURE"
"""The record does not match the signed hash, or the signature is for another license."""
SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
"""A signature (signer's over TBS_Sign, or maker's over the seal) does not verify."""
NOT_AUTHORIZED = "NOT_AUTHORIZED"
"""The signer is not bound to the seal, or the seal may not seal this type or department."""
NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
"""No path from a certificate to one of the trust anchors."""
REVOKED = "REVOKED"
"""Revoked before the signing time (or the license itself is revoked, cancelled, withdrawn)."""
REVOKED_NO_POE = "REVOKED_NO_POE"
"""Revoked, and no proof the signature existed before the revocation."""
OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
"""Signing time outside a validity period, with no proof of existence within it."""
NOT_YET_VALID = "NOT_YET_VALID"
"""The signing time is before a certificate's notBefore (ETSI: a FAILED sub-indication)."""
FORMAT_FAILURE = "FORMAT_FAILURE"
"""The signature, seal or bundle cannot be read as the structure it claims to be."""
LOG_INCLUSION_FAILURE = "LOG_INCLUSION_FAILURE"
"""The license is not in the transparency log, or the log contradicts it (another dataHash,
another status, a changed leaf)."""
LOG_NOT_CHECKPOINTED = "LOG_NOT_CHECKPOINTED"
"""The license's leaf is in the log but no signed checkpoint covers it yet (INDETERMINATE)."""
LOG_PROOF_MISSING = "LOG_PROOF_MISSING"
"""An export bundle carries no ``proof.json``: nothing shows the license is in the log
(INDETERMINATE; its manifest says why the exporter had none)."""
LOG_CONSISTENCY_FAILURE = "LOG_CONSISTENCY_FAILURE"
"""A signed checkpoint no longer matches the stored leaves: the log was changed after it."""
LOG_FORK = "LOG_FORK"
"""Two signed checkpoints of the same size with different roots: the log showed two histories."""
RECORD_MISSING = "RECORD_MISSING"
"""The log records a license the database no longer holds (a row deleted outside the product)."""


class CheckStatus(StrEnum):
    """Outcome of one check."""

    VALID = "VALID"
    INVALID = "INVALID"
    INDETERMINATE = "INDETERMINATE"
    SKIPPED = "SKIPPED"


CHECK_NAMES = (
    "format",
    "integrity",
    "signature",
    "seal",
    "signer_certificate",
    "authorization",
    "status",
    "log_inclusion",
)
"""Every report lists these checks, in this order."""

_REVOKED_STATUSES = frozenset({"REVOKED", "CANCELLED", "WITHDRAWN"})

# What a person reads beside the machine codes (translated where shown, with ``_``).
_INDICATIONS = {"PASSED": N_("PASSED"), "FAILED": N_("FAILED"),
                "INDETERMINATE": N_("INDETERMINATE")}  # English keeps ETSI's words
_TITLES = {  # English keeps the check names (STANDARDS.md §3.5)
    "format": N_("format"), "integrity": N_("integrity"), "signature": N_("signature"),
    "seal": N_("seal"), "signer_certificate": N_("signer_certificate"),
    "authorization": N_("authorization"), "status": N_("status"),
    "log_inclusion": N_("log_inclusion"),
}
_STATUSES = {"VALID": N_("valid"), "INVALID": N_("invalid"),
             "INDETERMINATE": N_("indeterminate"), "SKIPPED": N_("not checked")}
_REASONS = {
    HASH_FAILURE: N_("the record does not match what was signed"),
    SIG_CRYPTO_FAILURE: N_("a signature does not verify"),
    NOT_AUTHORIZED: N_("not authorized"),
    NO_CERTIFICATE_CHAIN_FOUND: N_("no certificate chain to a trust anchor"),
    REVOKED: N_("revoked"),
    REVOKED_NO_POE: N_("revoked, no proof of existence before"),
    OUT_OF_BOUNDS_NO_POE: N_("outside a validity period, no proof of existence"),
    NOT_YET_VALID: N_("certificate not yet valid"),
    FORMAT_FAILURE: N_("format error"),
    LOG_INCLUSION_FAILURE: N_("not in the log as sealed"),
    LOG_NOT_CHECKPOINTED: N_("no log checkpoint covers it yet"),
    LOG_PROOF_MISSING: N_("the bundle carries no log proof"),
    LOG_CONSISTENCY_FAILURE: N_("the log was changed after a checkpoint"),
    LOG_FORK: N_("the log showed two histories"),
    RECORD_MISSING: N_("license record missing"),
    "ok": N_("ok"),
    "no proof": N_("no proof"),
    "no status source": N_("no status source"),
    "format failure": N_("format failure"),
    "not applicable": N_("not applicable"),
    "no certificate": N_("no certificate"),
    "no seal": N_("no seal"),
    "no record": N_("no record"),
    "changed": N_("changed"),
    "no revocation info": N_("revocation not checked (no CRL given)"),
    "partial revocation info": N_("revocation checked for some certificates only (no CRL for "
                                  "the others)"),
}
_LIMITED = {"no revocation info": "revocation", "partial revocation info": "revocation"}
"""Reasons of a VALID check that could not use everything it would have liked to → what was
left out."""
_CONSEQUENCES = frozenset({"format failure", "changed", "not applicable"})
"""Reasons of a SKIPPED check left out because of another finding, not for want of input."""
_LICENSE_STATUSES = {  # English keeps the registry's status codes
    "VALID": N_("VALID"), "SUSPENDED": N_("SUSPENDED"), "REVOKED": N_("REVOKED"),
    "WITHDRAWN": N_("WITHDRAWN"), "CANCELLED": N_("CANCELLED"), "EXPIRED": N_("EXPIRED"),
    "SUPERSEDED": N_("SUPERSEDED"), "NOT_ISSUED": N_("NOT_ISSUED"),
}


def indication_text(indication: str) -> str:
    """PASSED / FAILED / INDETERMINATE in the reader's language (通过 / 未通过 / 无法确定)."""
    return named(_INDICATIONS, indication)


def check_title(name: str) -> str:
    """A check's name in the reader's language."""
    return named(_TITLES, name)


def status_text(status: str) -> str:
    """A check's outcome (VALID, INVALID …) in the reader's language."""
    return named(_STATUSES, status)


def license_status_text(status: str) -> str:
    """A license status (VALID, SUSPENDED, REVOKED …) in the reader's language."""
    upper = status.upper()
    return _(_LICENSE_STATUSES[upper]) if upper in _LICENSE_STATUSES else status


def reason_text(reason: str | None) -> str:
    """A sub-indication or a check's reason in words, in the reader's language
    (LICENSE_<STATUS> says the license status)."""
    if reason is None:
        return ""
    if reason in _REASONS:
        return _(_REASONS[reason])
    if reason.startswith("LICENSE_"):
        return _("license {status}", status=license_status_text(reason.removeprefix("LICENSE_")))
    return reason


@dataclass(frozen=True)
class CheckResult:
    """The result of one check."""

    name: str
    """One of :data:`CHECK_NAMES`."""
    status: CheckStatus
    """VALID, INVALID, INDETERMINATE or SKIPPED."""
    reason: str
    """For INVALID / INDETERMINATE the sub-indication (or LICENSE_<STATUS> for "status");
    for VALID / SKIPPED a short word ("ok", "no status source" …)."""
    detail: str
    """A sentence for a person: what was checked and what was found."""

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form: the codes, and beside them their words in the reader's language."""
        return {
            "name": self.name,
            "title": check_title(self.name),
            "status": self.status.value,
            "status_text": status_text(self.status.value),
            "reason": self.reason,
            "reason_text": reason_text(self.reason),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Supersession:
    """A later version replaced the license (变更, 延续 …): it is history, valid when issued."""

    successor: str
    """The identifier of the version that replaced it."""
    at: dt.datetime
    """When that version was sealed."""


def license_status_verdict(reason: str) -> tuple[Indication, str]:
    """What an INVALID "status" check means: LICENSE_REVOKED / _CANCELLED / _WITHDRAWN are
    FAILED/REVOKED; any other non-valid status (suspended, expired …) is INDETERMINATE with the
    LICENSE_<STATUS> reason as sub-indication (the seal is fine, the license is not in force)."""
    status = reason.removeprefix("LICENSE_")
    if status in _REVOKED_STATUSES:
        return Indication.FAILED, REVOKED
    return Indication.INDETERMINATE, reason


_NO_OBJECTION = frozenset({CheckStatus.VALID, CheckStatus.SKIPPED})


def _verdict(check: CheckResult) -> tuple[Indication, str] | None:
    """The indication a single check asks for, or None when it does not object."""
    if check.status is CheckStatus.INVALID:
        if check.name == "status":
            return license_status_verdict(check.reason)
        return Indication.FAILED, check.reason
    if check.status is CheckStatus.INDETERMINATE:
        return Indication.INDETERMINATE, check.reason
    return None


@dataclass(frozen=True)
class VerificationReport:
    """What an auditor gets for one signed license. Use ``.indication``, never truthiness."""

    subject: str
    """What was verified: a license identifier, a file or a bundle path."""
    identifier: str | None
    """The license identifier (ZZBS) the signature names, when it could be read."""
    indication: Indication
    """PASSED, FAILED or INDETERMINATE."""
    sub_indication: str | None
    """Why it is not PASSED (None when PASSED)."""
    reasons: tuple[str, ...]
    """One line per check that objected, in check order: "<check>: <detail>"."""
    checks: tuple[CheckResult, ...]
    """Every check, in :data:`CHECK_NAMES` order."""
    validation_time: dt.datetime
    """The time the verification was made for (passed in, never read from a clock)."""
    superseded: Supersession | None = None
    """Set when the license was superseded by a later version before the validation time:
    its status check then says "valid when issued", and a PASSED report is history."""

    @property
    def history(self) -> bool:
        """A superseded version that verifies: reported apart, neither a defect nor in force."""
        return self.superseded is not None and self.indication is Indication.PASSED

    def not_checked(self) -> tuple[tuple[str, str], ...]:
        """What the verdict does not cover (ETSI EN 319 102-1 reports the constraints a
        validation could not check beside its indication): (code, sentence) for every check
        SKIPPED for want of input (no status source, no log proof) and for a check that passed
        without everything it could use (revocation without CRLs). Checks skipped because of
        another finding (a format failure) are not listed."""
        found = []
        for check in self.checks:
            if check.status is CheckStatus.SKIPPED and check.reason not in _CONSEQUENCES:
                found.append((check.name, _("{check} not checked: {detail}",
                                            check=check_title(check.name), detail=check.detail)))
            elif check.status is CheckStatus.VALID and check.reason in _LIMITED:
                limit = _("{check}: {limit}", check=check_title(check.name),
                          limit=reason_text(check.reason))
                found.append((_LIMITED[check.reason], limit))
        return tuple(found)

    def __bool__(self) -> NoReturn:
        # `if report:` would be true for a FAILED report too; make that mistake loud.
        raise TypeError(
            "a VerificationReport has no truth value; test report.indication is "
            "Indication.PASSED instead"
        )

    @classmethod
    def from_checks(
        cls,
        *,
        subject: str,
        identifier: str | None,
        checks: Iterable[CheckResult],
        validation_time: dt.datetime,
        superseded: Supersession | None = None,
    ) -> VerificationReport:
        """Build a report, deriving the indication from the checks (the one place it is done)."""
        checks = tuple(checks)
        failed: tuple[Indication, str] | None = None
        indeterminate: tuple[Indication, str] | None = None
        reasons = []
        for check in checks:
            if check.status in _NO_OBJECTION:  # the common case, decided without a call
                continue
            verdict = _verdict(check)
            if verdict is None:
                continue
            reasons.append(_("{check}: {detail}", check=check_title(check.name),
                             detail=check.detail))
            if verdict[0] is Indication.FAILED and failed is None:
                failed = verdict
            elif verdict[0] is Indication.INDETERMINATE and indeterminate is None:
                indeterminate = verdict
        decided = failed or indeterminate
        return cls(
            subject=subject,
            identifier=identifier,
            indication=decided[0] if decided else Indication.PASSED,
            sub_indication=decided[1] if decided else None,
            reasons=tuple(reasons),
            checks=checks,
            validation_time=validation_time,
            superseded=superseded,
        )

    @classmethod
    def format_failure(
        cls,
        *,
        subject: str,
        detail: str,
        validation_time: dt.datetime,
        identifier: str | None = None,
    ) -> VerificationReport:
        """A FAILED/FORMAT_FAILURE report: the "format" check failed, every other one SKIPPED."""
        return cls.from_checks(
            subject=subject,
            identifier=identifier,
            validation_time=validation_time,
            checks=[
                CheckResult("format", CheckStatus.INVALID, FORMAT_FAILURE, detail),
                *(
                    CheckResult(name, CheckStatus.SKIPPED, "format failure", _("not checked"))
                    for name in CHECK_NAMES[1:]
                ),
            ],
        )

    @classmethod
    def finding(
        cls,
        *,
        subject: str,
        check: str,
        status: CheckStatus,
        reason: str,
        detail: str,
        validation_time: dt.datetime,
        identifier: str | None = None,
    ) -> VerificationReport:
        """A report about something other than one readable license (a deleted row, a log
        leaf or checkpoint): ``check`` carries the verdict, every other check is SKIPPED."""
        return cls.from_checks(
            subject=subject,
            identifier=identifier,
            validation_time=validation_time,
            checks=[
                CheckResult(name, status, reason, detail)
                if name == check
                else CheckResult(name, CheckStatus.SKIPPED, "not applicable", _("not checked"))
                for name in CHECK_NAMES
            ],
        )

    def check(self, name: str) -> CheckResult:
        """The result of the check called ``name``."""
        for result in self.checks:
            if result.name == name:
                return result
        raise KeyError(name)

    def headline(self) -> str:
        """The verdict in one phrase: the indication, and why when it is not PASSED."""
        if self.sub_indication is None:
            return indication_text(self.indication.value)
        return _("{indication} {code} ({reason})", indication=indication_text(self.indication),
                 code=self.sub_indication, reason=reason_text(self.sub_indication))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times in ISO 8601): the codes, and their words beside them."""
        return {
            "subject": self.subject,
            "identifier": self.identifier,
            "indication": self.indication.value,
            "indication_text": indication_text(self.indication.value),
            "sub_indication": self.sub_indication,
            "sub_indication_text": reason_text(self.sub_indication) or None,
            "reasons": list(self.reasons),
            "checks": [c.to_dict() for c in self.checks],
            "not_checked": [code for code, _sentence in self.not_checked()],
            "history": self.history,
            "superseded_by": None if self.superseded is None else {
                "identifier": self.superseded.successor,
                "at": self.superseded.at.isoformat()},
            "validation_time": self.validation_time.isoformat(),
        }


def coverage(reports: Iterable[VerificationReport]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What a summary can say once for all ``reports`` that did not fail: the checks every one
    of them made (their titles: not SKIPPED), and the not-checked sentences every one of them has
    (:meth:`VerificationReport.not_checked`). Reports that share their check results (a
    registry audit's do) are looked at once."""
    passed: set[str] | None = None
    missing: set[str] | None = None
    seen: set[tuple[CheckResult, ...]] = set()
    order: list[str] = []
    for report in reports:
        if report.indication is Indication.FAILED or report.checks in seen:
            continue
        seen.add(report.checks)
        made = {c.name for c in report.checks if c.status is not CheckStatus.SKIPPED}
        sentences = [sentence for _code, sentence in report.not_checked()]
        order = order or sentences
        passed = made if passed is None else passed & made
        missing = set(sentences) if missing is None else missing & set(sentences)
    if passed is None or missing is None:
        return (), ()
    return (tuple(check_title(n) for n in CHECK_NAMES if n in passed),
            tuple(s for s in order if s in missing))
