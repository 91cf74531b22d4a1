"""Verification of sealed licenses: reports with an indication, never a bool.

::

    report.py   Indication, CheckStatus, CheckResult, VerificationReport, sub-indications
    core.py     Verifier: one record + one SES_Signature → a report (cached per seal)
    bundle.py   write / verify an export bundle; load trust anchors

Example::

    from registry.verify import Verifier, load_anchors
    report = Verifier(anchors=load_anchors(Path("root.pem")), at=now).verify(
        record, signature_der, subject=identifier)
    print(report.indication, report.sub_indication)
"""

from registry.verify.bundle import BUNDLE_FILES, load_anchors, verify_bundle, write_bundle
from registry.verify.core import Verifier
from registry.verify.report import (
    CheckResult,
    CheckStatus,
    Indication,
    VerificationReport,
)

__all__ = [
    "BUNDLE_FILES",
    "CheckResult",
    "CheckStatus",
    "Indication",
    "VerificationReport",
    "Verifier",
    "load_anchors",
    "verify_bundle",
    "write_bundle",
]
