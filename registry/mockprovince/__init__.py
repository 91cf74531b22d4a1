"""The mock provincial platform: a real HTTP service in its own process and database.

It is not our code path to the province (that is :mod:`registry.province`); it stands in for
the platform in the demo, the tests and the benchmarks, speaking the same envelope
(:mod:`registry.province.wire`)::

    store.py       the platform's own database: licenses, held events, logs
    receive.py     the platform's judgement of one batch (held events, order, superseding)
    verifypool.py  signature checks in the web process or in worker processes
    sharing.py     the sharing side: licenses by holder, face-data checks, the use log
    faults.py      seeded fault injection (5xx, 429, hangs, resets, partial and repeated acks)
    server.py      the platform over HTTP (FastAPI), ``python -m registry.mockprovince.server``
    process.py     run that server as a real subprocess on 127.0.0.1 (demo, tests, benchmarks)
"""

__all__: list[str] = []
