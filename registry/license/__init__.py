"""Licenses: what a license is, how it is identified, sealed, stored and changed.

::

    codes.py      GB 32100 / GB 11643 / GB 11714 check digits, GB/T 36904 identifiers
    canonical.py  RFC 8785 canonical bytes of a record (what is hashed and signed)
    types.py      license types from ``schemas/license-types/`` (elements, face fields)
    elements.py   an accepted row → GB/T 36903 elements and the identifier of a version
    issue.py      structure, seal and store a chunk of accepted rows in one transaction
    events.py     the outbox event and log leaf of every sealing and status change
    lifecycle.py  after issue: change, renew, suspend, revoke, cancel, expire, transfer
    queries.py    licenses as a clerk or auditor reads them

Import from the submodules; this package re-exports nothing.
"""

__all__: list[str] = []
