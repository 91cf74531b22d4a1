"""The provincial platform side of the registry: the push envelope, the mock platform, the push
client and the outbox sync (DESIGN.md decisions 9 and 10).

::

    wire.py     the envelope: items, acks, operateType / certState code tables (pure)
    store.py    the mock platform's own database: received licenses, request log
    server.py   the mock platform over HTTP (FastAPI), ``python -m registry.province.server``
    process.py  run that server as a real subprocess on 127.0.0.1 (demo, end-to-end tests)
    client.py   the push client: retries with backoff, one ack per item
    sync.py     drain the outbox: pending events → items → acks recorded, batch by batch

>>> from registry.province.wire import cert_state_of
>>> cert_state_of("REVOKED")
'03'

The submodules are imported explicitly so that pushing does not load the web server.
"""

__all__: list[str] = []
