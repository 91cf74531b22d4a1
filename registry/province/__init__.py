"""Our side of the provincial platform: the push envelope, the client and the syncs
(DESIGN.md decisions 9 and 10).

::

    wire.py        the envelope: items (compact signatures, eventSeq), acks, code tables (pure)
    auth.py        credentials: a token, or HMAC-signed requests
    client.py      the push client: retries with backoff, acks matched to items
    syncstate.py   sync runs (in flight, heartbeats) and the full sync's checkpoint
    sync.py        incremental sync: the outbox, claimed, pushed and recorded batch by batch
    fullsync.py    full sync: every current license, paged, resumable
    reconcile.py   compare counts and content hashes with the platform, repair drift

The platform itself, for the demo and the tests, is :mod:`registry.mockprovince`.

>>> from registry.province.wire import cert_state_of
>>> cert_state_of("REVOKED")
'03'
"""

__all__: list[str] = []
