"""Verification of sealed licenses: reports with an indication, never a bool.

::

    report.py          Indication, CheckStatus, CheckResult, VerificationReport, sub-indications
    evidence.py        LogEvidence: what the transparency log says about a license (and its POE)
    core.py            Verifier: one record + one SES_Signature → a report (cached per seal),
                       with CRLs and proof of existence
    bundle.py          write / verify an export bundle (and its proof.json); anchors, CRL files
    inputs.py          what ``licreg verify`` accepts: bundles, PDFs, folders of either
    registry_audit.py  ``verify --registry``: every license, reconciled with the log, in bulk
    html.py            the ``--report`` page

Example::

    from registry.verify import Verifier, load_anchors
    report = Verifier(anchors=load_anchors(Path("root.pem")), at=now).verify(
        record, signature_der, subject=identifier)
    print(report.indication, report.sub_indication)
"""

from registry.verify.bundle import BUNDLE_FILES, load_anchors, verify_bundle, write_bundle
from registry.verify.core import Verifier
from registry.verify.evidence import LogEvidence
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
    "LogEvidence",
    "VerificationReport",
    "Verifier",
    "load_anchors",
    "verify_bundle",
    "write_bundle",
]
