"""Licenses: what a license is, how it is made, stored and changed.

::

    codes.py      GB 32100 / GB 11643 / GB 11714 check digits, GB/T 36904 identifiers
    canonical.py  RFC 8785 canonical bytes of a record (what is hashed and signed)
    types.py      license types: documents, entries, the catalogue, what a registry holds
    model.py      the license on its path, typed: JudgedRow → SealedLicense (and RowResult)
    issue.py      judged rows → elements, identifier, record, seal → stored versions
    events.py     the outbox event and log leaf of every sealing and status change
    lifecycle.py  after issue: change, renew, suspend, revoke, cancel, expire, transfer
    queries.py    licenses as a clerk or auditor reads them

Import from the submodules; this package re-exports nothing.
"""

__all__: list[str] = []
