"""Verify many pushed licenses at once: in this process, or spread over worker processes.

The platform checks every signature it receives; one ECDSA P-256 verification costs ~75 µs and
the Verifier's bookkeeping about as much again, so one core tops out near 6,000 licenses a
second. With ``workers`` > 0 the checks of a request are split into chunks verified by that many
processes, each with its own :class:`~registry.verify.core.Verifier` (and its caches), while the
web process parses and stores the next request.

A job carries the record and either the whole SES_Signature DER or its parts
(:meth:`~registry.verify.core.Verifier.verify_parts`, which hashes TBS_Sign from a state cached
per seal instead of building and parsing DER); parts reference the SESeal and certificate
bytes objects shared by the whole request, which pickle sends once per chunk.

>>> pool = VerifyPool(anchors=[root_cert], workers=0)                 # doctest: +SKIP
>>> pool.verify([(record, der, identifier)], at=now)[0]               # doctest: +SKIP
Verdict(ok=True, code='OK', message='')
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from registry.i18n import current_language, set_language
from registry.verify.core import Verifier
from registry.verify.report import Indication

__all__ = ["Job", "Verdict", "VerifyPool"]

Parts = tuple[bytes, bytes, dt.datetime, bytes, str, bytes]
"""(seal DER, certificate DER, signed at, data hash, property info, signature value)."""
Job = tuple[bytes, bytes | Parts, str]
"""(record, SES_Signature DER or its parts, subject)."""


@dataclass(frozen=True)
class Verdict:
    """The platform's reading of one verification report."""

    ok: bool
    """True when the report is PASSED."""
    code: str
    """``OK`` or the report's sub-indication (or indication when it has none)."""
    message: str
    """The report's reasons, for the acknowledgement."""


class _Cached:
    """A Verifier per process, rebuilt when the validation time moves past ``max_age``."""

    def __init__(self, anchors: Sequence[x509.Certificate], max_age: dt.timedelta) -> None:
        self.anchors = tuple(anchors)
        self.max_age = max_age
        self.verifier: Verifier | None = None
        self.at: dt.datetime | None = None

    def get(self, at: dt.datetime) -> Verifier:
        if self.verifier is None or self.at is None or not self.at <= at <= self.at + self.max_age:
            self.verifier = Verifier(anchors=self.anchors, at=at)
            self.at = at
        return self.verifier


def _verify_jobs(cached: _Cached, jobs: Sequence[Job], at: dt.datetime) -> list[Verdict]:
    verifier = cached.get(at)
    out: list[Verdict] = []
    for record, signature, subject in jobs:
        if isinstance(signature, bytes):
            report = verifier.verify(record, signature, subject=subject)
        else:
            seal_der, cert_der, signed_at, data_hash, identifier, value = signature
            report = verifier.verify_parts(
                record, seal_der=seal_der, cert_der=cert_der, signed_at=signed_at,
                data_hash=data_hash, identifier=identifier, signature=value, subject=subject,
            )  # fmt: skip
        if report.indication == Indication.PASSED:
            out.append(Verdict(True, "OK", ""))
        else:
            code = report.sub_indication or str(report.indication)
            message = "; ".join(report.reasons) or f"verification {report.indication}"
            out.append(Verdict(False, code, message))
    return out


_worker: _Cached | None = None


def _watch_parent(parent: int) -> None:
    # A worker must not outlive the web process, however that one ended (even SIGKILL).
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def _init_worker(anchor_ders: Sequence[bytes], max_age: dt.timedelta, lang: str) -> None:
    global _worker
    set_language(lang)  # a worker's reasons in the platform's language, as its own process's
    _worker = _Cached([x509.load_der_x509_certificate(d) for d in anchor_ders], max_age)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()


def _verify_in_worker(jobs: Sequence[Job], at: dt.datetime) -> list[Verdict]:
    assert _worker is not None, "worker not initialized"
    return _verify_jobs(_worker, jobs, at)


def _ping() -> bool:
    return True


class VerifyPool:
    """Verifies jobs in this process (``workers`` 0) or in that many worker processes."""

    def __init__(
        self,
        *,
        anchors: Sequence[x509.Certificate],
        workers: int = 0,
        max_age: dt.timedelta = dt.timedelta(minutes=1),
        chunk: int = 250,
    ) -> None:
        if workers < 0:
            raise ValueError("workers must not be negative")
        self.workers = workers
        self._local = _Cached(anchors, max_age)
        self._chunk = chunk
        self._executor: Executor | None = None
        if workers:
            ders = [a.public_bytes(Encoding.DER) for a in anchors]
            # spawn, not fork: the web server runs threads, and a forked lock can stay locked.
            self._executor = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(ders, max_age, current_language()),
            )
            # Start the workers now (they import the verifier), not on the first push.
            for future in [self._executor.submit(_ping) for _ in range(workers)]:
                future.result()

    def verify(self, jobs: Sequence[Job], *, at: dt.datetime) -> list[Verdict]:
        """One verdict per job, in order."""
        if not jobs:
            return []
        if self._executor is None or len(jobs) < self._chunk:
            return _verify_jobs(self._local, jobs, at)
        size = max(self._chunk, -(-len(jobs) // (self.workers * 4)))
        futures = [
            self._executor.submit(_verify_in_worker, jobs[i : i + size], at)
            for i in range(0, len(jobs), size)
        ]
        out: list[Verdict] = []
        for future in futures:
            out.extend(future.result())
        return out

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> VerifyPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
