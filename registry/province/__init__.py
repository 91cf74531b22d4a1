"""The provincial platform side of the registry: the push envelope, the mock platform, the push
client and the syncs (DESIGN.md decisions 9 and 10).

::

    wire.py        the envelope: items (compact signatures, eventSeq), acks, code tables (pure)
    auth.py        credentials on both sides: a token, or HMAC-signed requests
    store.py       the mock platform's own database: licenses, held events, logs
    receive.py     the platform's judgement of one batch (held events, order, superseding)
    verifypool.py  signature checks in the web process or in worker processes
    sharing.py     the sharing side: licenses by holder, face-data checks, the use log
    faults.py      seeded fault injection (5xx, 429, hangs, resets, partial and repeated acks)
    server.py      the mock platform over HTTP (FastAPI), ``python -m registry.province.server``
    process.py     run that server as a real subprocess on 127.0.0.1 (demo, end-to-end tests)
    client.py      the push client: retries with backoff, acks matched to items
    syncstate.py   sync runs (in flight, heartbeats) and the full sync's checkpoint
    sync.py        incremental sync: the outbox, claimed, pushed and recorded batch by batch
    fullsync.py    full sync: every current license, paged, resumable
    bench.py       the push benchmark (``licreg sync bench``)

Reconciliation with the platform is :mod:`registry.reconcile`; a license's lifecycle after
issue, which fills the outbox, is :mod:`registry.lifecycle`.

>>> from registry.province.wire import cert_state_of
>>> cert_state_of("REVOKED")
'03'

The submodules are imported explicitly so that pushing does not load the web server.
"""

__all__: list[str] = []
