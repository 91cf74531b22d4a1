"""The mock provincial platform: an HTTP service that verifies, stores and acknowledges pushes,
and answers other offices' sharing queries.

It is a real service in its own process with its own database (DESIGN.md decision 9), so the
push client and the sync are tested against the thing they will meet, not a stub::

    python -m registry.mockprovince.server --port 8765 --home var/province \\
        --anchors var/keystore/root.pem --credentials province-credentials.toml \\
        [--max-body BYTES] [--fault error_rate=0.1 --fault seed=7] [--workers 2]

Secrets never come as arguments (``/proc/PID/cmdline`` shows those to every user): the
credentials file (:func:`registry.province.auth.load_credentials`, mode 0600) names them or the
environment variables that hold them. In a test, the same app runs in-process::

    app = create_app(db_url="sqlite://", anchors=[root_cert], tokens={"city": "t"})
    TestClient(app).get("/health").json()        # {'ok': True}

Every request but ``/health`` and ``/stats`` is authenticated from its headers before its body
is read, and a body is read only up to ``max_body`` bytes (413 beyond, at once when the
Content-Length says so). A push may carry only items of departments its credential is bound to
(403 otherwise). Endpoints:

- ``POST /api/v1/licenses``: the push envelope of :mod:`registry.province.wire`;
- ``GET /api/v1/licenses/{identifier}``: one stored version, with the holder's name and ID
  number masked for a natural person unless the caller's credential covers the issuer;
- ``GET /api/v1/digests?after=&limit=``: content digests of the licenses the caller's
  credential covers, for reconciliation;
- ``POST /api/v1/share/query``: current licenses of a holder, with a use cause;
- ``POST /api/v1/share/check``: 核验, claimed face data against the stored license;
- ``GET /api/v1/share/log``: the use log (the caller's own uses, unless it covers every
  department);
- ``GET /api/v1/share/uses?since=&until=``: the use log summed per department, type and use
  cause (:mod:`registry.mockprovince.uselog`), what the city's weekly bulletin reads;
- ``GET /stats`` (``?detail=true`` for held events, uses, refusals), ``GET /health``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import socket
import sys
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import insert
from sqlalchemy.orm import sessionmaker
from starlette.types import Receive, Scope, Send

from registry.errors import (
    CodeError,
    ConfigError,
    EnvelopeError,
    ItemSchemaError,
    RegistryError,
    ShareRequestError,
)
from registry.i18n import _, ngettext, os_reason
from registry.license.canonical import canonical_bytes
from registry.license.codes import parse_license_identifier
from registry.mockprovince import sharing, uselog
from registry.mockprovince.faults import FaultInjector, FaultPlan, Faults
from registry.mockprovince.receive import Batch, Checked
from registry.mockprovince.store import (
    HeldEvent,
    RefusedRequest,
    digests,
    get_license,
    held_for,
    lookup,
    open_store,
    stats,
    successors_of,
    write_batch,
)
from registry.mockprovince.verifypool import Job, Verdict, VerifyPool
from registry.province.auth import (
    ANY_REGION,
    CREDENTIALS_VAR,
    Authenticator,
    AuthResult,
    Credential,
    Gate,
    load_credentials,
)
from registry.province.wire import (
    CODE_SCHEMA,
    CREATING_OPERATE_TYPES,
    DIGESTS_PATH,
    HEAD_BAD_REQUEST,
    HEAD_FORBIDDEN,
    HEAD_TOO_LARGE,
    HEAD_UNAUTHORIZED,
    LICENSES_PATH,
    SHARE_CHECK_PATH,
    SHARE_LOG_PATH,
    SHARE_QUERY_PATH,
    SHARE_USES_PATH,
    Ack,
    AckResult,
    build_response,
    content_digest,
    error_response,
    parse_json,
    parse_request,
    request_blobs,
    validate_item,
)
from registry.verify.bundle import load_anchors

__all__ = ["MAX_BODY", "MAX_ITEMS", "ProvinceEndpoint", "create_app", "file_clock", "main",
           "serve", "start_lines"]

MAX_ITEMS = 5000
"""Most items one request may carry (the batch is looked up in one query)."""
MAX_BODY = 32 * 1024 * 1024
"""Default most bytes a request body may have: 5,000 compact items take ≈ 8 MB, 2,500 with
whole signatures ≈ 30 MB."""

log = logging.getLogger(__name__)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def file_clock(path: Path) -> Callable[[], dt.datetime]:
    """TEST ONLY: a clock that reads the time from ``path`` (ISO 8601 with a zone) at every
    call, or the real time while the file is missing or empty, so that a test can build a
    history over weeks against the real process (``--clock-file``)."""
    log.warning("TEST ONLY: the platform's clock is read from %s", path)

    def now() -> dt.datetime:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            text = ""
        if not text:
            return _utc_now()
        return dt.datetime.fromisoformat(text).astimezone(dt.UTC)

    return now


class ProvinceEndpoint:
    """The platform's logic, without HTTP: credentials, pushes in and acks out, sharing.

    Verification runs before the batch lock (in :class:`VerifyPool` worker processes when
    ``verify_workers`` > 0), so one request's signatures are checked while another's are
    written. One Verifier per process serves many requests so that its per-seal caches pay
    off; it is rebuilt when its validation time is more than ``verifier_max_age`` behind the
    clock, which bounds how stale the validation time of a verdict can be.
    """

    def __init__(
        self,
        *,
        db_url: str,
        anchors: Sequence[x509.Certificate],
        tokens: Mapping[str, str] | None = None,
        credentials: Sequence[Credential] = (),
        clock: Callable[[], dt.datetime] = _utc_now,
        verifier_max_age: dt.timedelta = dt.timedelta(minutes=1),
        hold_unknown: bool = True,
        verify_workers: int = 0,
    ) -> None:
        creds = {c.access_id: c for c in credentials}
        for access_id, token in (tokens or {}).items():  # TEST convenience: any department
            creds[access_id] = Credential(access_id, token, "token", region=ANY_REGION)
        if not creds:
            raise ConfigError("the provincial endpoint needs at least one accessId=token")
        self.auth = Authenticator(creds)
        self.engine = open_store(db_url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._clock = clock
        self._hold = hold_unknown
        self._pool = VerifyPool(anchors=anchors, workers=verify_workers, max_age=verifier_max_age)
        # One writer at a time: SQLite has a single writer anyway, and the look-up-then-insert
        # of a batch must not interleave with another batch.
        self._lock = threading.Lock()

    def close(self) -> None:
        self._pool.close()

    # -- credentials -----------------------------------------------------------------------

    def begin(self, *, method: str, path: str, headers: Mapping[str, str]) -> Gate:
        """Authenticate a request from its headers; its body follows (:class:`Gate`)."""
        return self.auth.begin(method=method, path=path, headers=headers,
                               now=self._clock().timestamp())  # fmt: skip

    def refuse(self, *, remote: str, path: str, access_id: object, reason: str) -> None:
        """Log and record a request refused for its credentials."""
        with self._sessions.begin() as session:
            session.execute(insert(RefusedRequest), [{
                "at": self._clock(), "remote": remote[:100], "path": path[:200],
                "access_id": access_id[:100] if isinstance(access_id, str) else None,
                "reason": reason[:200],
            }])  # fmt: skip

    # -- receiving -------------------------------------------------------------------------

    def receive(
        self,
        *,
        access_id: str,
        request_id: str,
        items: Sequence[Any],
        blobs: Mapping[str, bytes] | None = None,
    ) -> list[Ack]:
        """Judge, store and acknowledge one request's items (one ack per item, same order).

        (1) validate each item's shape and canonicalize its elements (SCHEMA);
        (2) verify, outside the lock, the SES_Signature of each creating item whose identifier
            is not stored yet, over the RFC 8785 bytes of its elements at the platform's clock;
        (3) under the lock, look up the batch's identifiers, held events and successors, and
            judge each item in order (:mod:`registry.mockprovince.receive`);
        (4) write the new versions, the status changes, held events and the logs in one
            transaction, with one executemany statement each.
        """
        at = self._clock()
        blobs = blobs or {}
        # (1) shape
        checked: list[Checked | Ack] = []
        for raw in items:
            try:
                item = validate_item(raw, blobs=blobs)
                record = canonical_bytes(item.elements)
            except ItemSchemaError as exc:
                checked.append(_reject(exc.identifier, exc.version, CODE_SCHEMA, str(exc)))
                continue
            except CodeError as exc:  # e.g. a float among the elements
                checked.append(_reject(item.identifier, item.version, CODE_SCHEMA, str(exc)))
                continue
            digest = content_digest(record, item.digest_input, item.predecessor)
            checked.append(Checked(item, record, digest))
        good = [c for c in checked if isinstance(c, Checked)]
        # (2) verify what is new (an optimistic look-up: rows are never deleted)
        creating = [c for c in good if c.item.operate_type in CREATING_OPERATE_TYPES]
        with self._sessions() as session:
            stored = lookup(session, [c.item.identifier for c in creating])
        fresh = [c for c in creating if c.item.identifier not in stored]
        verdicts = self._verify(fresh, at, blobs)

        def verdict_of(c: Checked) -> Verdict:
            found = verdicts.get(c.digest)
            if found is None:  # not foreseen: verify now
                found = self._verify([c], at, blobs)[c.digest]
            return found

        with self._lock, self._sessions.begin() as session:
            # (3) judge against what is stored, including earlier items of this batch
            idents = {c.item.identifier for c in good}
            preds = {c.item.predecessor for c in good if c.item.predecessor}
            known = lookup(session, idents | preds)
            unknown = idents - set(known)
            held: Mapping[str, list[HeldEvent]] = held_for(session, unknown) if self._hold else {}
            batch = Batch(
                known=known,
                held=held,
                successors=successors_of(session, unknown),
                verdict_of=verdict_of,
                hold_unknown=self._hold,
                access_id=access_id,
                request_id=request_id,
                at=at,
            )
            acks = [c if isinstance(c, Ack) else batch.judge(c) for c in checked]
            # (4) one transaction, bulk statements
            counts = {r: sum(a.result is r for a in acks) for r in AckResult}
            w = batch.writes
            write_batch(
                session,
                inserts=list(w.inserts.values()),
                updates=list(w.updates.values()),
                held=w.held,
                resolved=w.resolved,
                replaced=w.replaced,
                # the request's seals and certificates, once, for the versions stored
                blobs={**blobs, **w.blobs} if w.inserts else {},
                log={
                    "access_id": access_id,
                    "request_id": request_id,
                    "received_at": at,
                    "items": len(acks),
                    "accepted": counts[AckResult.ACCEPTED],
                    "duplicates": counts[AckResult.DUPLICATE] + counts[AckResult.HELD],
                    "rejected": counts[AckResult.REJECTED],
                    "detail": [_detail(a, raw) for a, raw in zip(acks, items, strict=True)],
                },
                at=at,
            )
        return acks

    def _verify(
        self, todo: Sequence[Checked], at: dt.datetime, blobs: Mapping[str, bytes]
    ) -> dict[str, Verdict]:
        unique: dict[str, Checked] = {}
        for c in todo:
            unique.setdefault(c.digest, c)
        jobs: list[Job] = []
        for c in unique.values():
            p = c.item.parts
            if p is None:
                jobs.append((c.record, c.item.signature, c.item.identifier))
                continue
            # The request's shared seal and certificate bytes objects: a worker pool pickles
            # each once per chunk, not once per job.
            seal = blobs.get(p.seal_ref) or c.item.blobs[p.seal_ref]
            cert = blobs.get(p.cert_ref) or c.item.blobs[p.cert_ref]
            jobs.append((c.record, (seal, cert, p.signed_at, p.data_hash, p.property_info,
                                    p.value), c.item.identifier))  # fmt: skip
        verdicts = self._pool.verify(jobs, at=at)
        return dict(zip(unique, verdicts, strict=True))

    # -- reading ---------------------------------------------------------------------------

    def stats(self, *, detail: bool = False) -> dict[str, Any]:
        with self._sessions() as session:
            return stats(session, detail=detail)

    def get(self, identifier: str, credential: Credential) -> dict[str, Any] | None:
        """One stored version; personal data masked unless ``credential`` covers its issuer."""
        with self._sessions() as session:
            found = get_license(session, identifier)
        if found is None or credential.covers(parse_license_identifier(identifier).issuer_code):
            return found
        return sharing.masked(found)

    def digests(self, credential: Credential, *, after: str,
                limit: int) -> list[dict[str, Any]]:
        """A page of digests of the licenses ``credential`` covers (reconciliation)."""
        with self._sessions() as session:
            return digests(session, after=after, limit=limit,
                           departments=credential.departments,
                           division_prefix=credential.division_prefix)  # fmt: skip

    # -- sharing ---------------------------------------------------------------------------

    def share_query(self, access_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Current licenses of a holder; the use is logged (caller, cause, time)."""
        cause = sharing.validate_cause(body.get("useCause"))
        holder = body.get("holderCode")
        type_code = body.get("typeCode")
        if not isinstance(holder, str) or not isinstance(type_code, str | None):
            raise ShareRequestError("holderCode (and typeCode) must be strings")
        with self._sessions.begin() as session:
            found = sharing.query_by_holder(session, holder_code=holder, type_code=type_code)
            sharing.log_use(session, access_id=access_id, action="query", cause=cause,
                            subject=holder, result=f"{len(found)} license(s)", at=self._clock(),
                            items=uselog.query_items(found, type_code=type_code))
        return {"licenses": found}

    def share_check(self, access_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """核验: claimed face data against the license; the use is logged."""
        cause = sharing.validate_cause(body.get("useCause"))
        identifier, type_code, number = body.get("ZZBS"), body.get("typeCode"), body.get("ZZBH")
        if not all(v is None or isinstance(v, str) for v in (identifier, type_code, number)):
            raise ShareRequestError("ZZBS, typeCode and ZZBH must be strings")
        claimed = body.get("elements")
        if not isinstance(claimed, dict):
            raise ShareRequestError("elements must be an object")
        with self._sessions.begin() as session:
            result = sharing.check_face_data(session, claimed=claimed, identifier=identifier,
                                             type_code=type_code, number=number)  # fmt: skip
            subject = identifier or f"{type_code}/{number}"
            sharing.log_use(session, access_id=access_id, action="check", cause=cause,
                            subject=subject, result=result["result"], at=self._clock(),
                            items=uselog.check_items(result, identifier=identifier,
                                                     type_code=type_code))
        return result

    def share_log(self, credential: Credential, *, limit: int) -> list[dict[str, Any]]:
        """The latest uses: the caller's own, or everyone's for a credential of every
        department (a use names its subject, often a person's ID number)."""
        mine = None if credential.region == ANY_REGION else credential.access_id
        with self._sessions() as session:
            return sharing.use_log(session, limit=max(1, min(limit, 1000)), access_id=mine)

    def share_uses(self, *, since: dt.datetime | None,
                   until: dt.datetime | None) -> dict[str, Any]:
        """The use log of ``[since, until)`` summed (``until`` None: every use so far)."""
        with self._sessions() as session:
            return uselog.summary(session, since=since, until=until, now=self._clock())


def _detail(ack: Ack, raw: Any) -> list[Any]:
    op = raw.get("operateType") if isinstance(raw, dict) else None
    return [ack.identifier, ack.version, ack.seq, op, ack.result.value, ack.code]


def _reject(identifier: str, version: str, code: str, message: str) -> Ack:
    return Ack(identifier, version, AckResult.REJECTED, code, message)


class _ConnectionReset(Exception):
    """Fault injection: the request was processed, the connection dies before the answer."""


class _ResetResponse(Response):
    """Starts an answer and then fails, so the server drops the connection mid-response."""

    def __init__(self) -> None:
        super().__init__(content=b"", status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"1000")]})  # fmt: skip
        raise _ConnectionReset("fault injection: connection reset after processing")


def _client_of(request: Request) -> str:
    return request.client.host if request.client else "?"


def create_app(
    *,
    db_url: str,
    anchors: Sequence[x509.Certificate],
    tokens: Mapping[str, str] | None = None,
    credentials: Sequence[Credential] = (),
    clock: Callable[[], dt.datetime] = _utc_now,
    faults: Faults | None = None,
    hold_unknown: bool = True,
    verify_workers: int = 0,
    max_body: int = MAX_BODY,
) -> FastAPI:
    """The platform as an ASGI app; ``tokens`` maps accessId → token (scheme ``token``, TEST
    convenience: bound to every department); ``max_body`` bytes at most per request body."""
    endpoint = ProvinceEndpoint(
        db_url=db_url,
        anchors=anchors,
        tokens=tokens,
        credentials=credentials,
        clock=clock,
        hold_unknown=hold_unknown,
        verify_workers=verify_workers,
    )
    injector = FaultInjector(faults or Faults())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        # Here, not after uvicorn.run: uvicorn re-raises SIGTERM once it has shut down.
        endpoint.close()

    app = FastAPI(title="Mock provincial license platform (TEST ONLY)", docs_url=None,
                  lifespan=lifespan)
    app.state.endpoint = endpoint
    app.state.faults = injector
    app.state.max_body = max_body

    @app.exception_handler(RequestValidationError)
    async def bad_parameters(_request: Request, exc: RequestValidationError) -> JSONResponse:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _refused(400, f"bad request parameters: {where}")

    async def refuse(request: Request, result: AuthResult) -> Response:
        claimed = request.headers.get("x-access-id")
        what = "push" if request.url.path == LICENSES_PATH else "request"
        log.warning("refused %s from %s: unknown or missing credentials for accessId %r (%s)",
                    what, _client_of(request), claimed, result.reason)  # fmt: skip
        await run_in_threadpool(lambda: endpoint.refuse(
            remote=_client_of(request), path=request.url.path, access_id=claimed,
            reason=result.reason))  # fmt: skip
        return _closing(_error(401, HEAD_UNAUTHORIZED, "unknown or missing credentials"))

    async def authenticated(request: Request, *, read: bool) -> tuple[Credential, bytes] | Response:
        """(1) the credentials from the headers, before any byte of the body; (2) the body, up
        to ``max_body`` bytes, hashed as it streams in for an HMAC signature; (3) the
        signature, then the nonce recorded."""
        query = request.scope.get("query_string", b"").decode("latin-1")
        gate = endpoint.begin(method=request.method, headers=request.headers,
                              path=request.url.path + (f"?{query}" if query else ""))  # fmt: skip
        if gate.refused is not None:
            return await refuse(request, gate.refused)
        body = b""
        if read:
            got = await _read_body(request, gate, max_body)
            if isinstance(got, Response):
                return got
            body = got
        result = gate.finish()
        if result.credential is None:
            return await refuse(request, result)
        return result.credential, body

    @app.post(LICENSES_PATH)
    async def push(request: Request) -> Any:
        got = await authenticated(request, read=True)
        if isinstance(got, Response):
            return got
        credential, raw = got
        try:
            body = parse_json(raw)
            checked_head, items = parse_request(body)
            blobs = request_blobs(body)
        except EnvelopeError as exc:
            return _error(400, HEAD_BAD_REQUEST, str(exc))
        if checked_head["accessId"] not in ("", credential.access_id):
            return _error(403, HEAD_FORBIDDEN, f"head.accessId {checked_head['accessId']!r} is "
                          f"not the authenticated accessId {credential.access_id!r}")
        if len(items) > MAX_ITEMS:
            return _error(413, HEAD_TOO_LARGE, f"at most {MAX_ITEMS} items per request")
        outside = _outside(credential, items)
        if outside is not None:
            log.warning("refused push from %s: accessId %r may not push for department %s",
                        _client_of(request), credential.access_id, outside)  # fmt: skip
            return _error(403, HEAD_FORBIDDEN, f"accessId {credential.access_id!r} may not push "
                          f"licenses of department {outside}")
        plan: FaultPlan = injector.plan(items=len(items))
        if plan.error:
            return _error(503, HEAD_BAD_REQUEST, "fault injection: 503")
        if plan.rate_limited:
            return JSONResponse(
                error_response(HEAD_BAD_REQUEST, "fault injection: slow down"), 429,
                headers={"Retry-After": f"{injector.faults.retry_after:g}"},
            )
        if plan.hang:
            await asyncio.sleep(plan.hang)
        if plan.keep is not None:
            items = items[: plan.keep]
        acks = await run_in_threadpool(
            lambda: endpoint.receive(
                access_id=credential.access_id, request_id=checked_head["requestId"],
                items=items, blobs=blobs,
            )
        )
        if plan.duplicate_acks:
            acks = acks + acks[: plan.duplicate_acks]
        if plan.reset:
            return _ResetResponse()
        return JSONResponse(build_response(acks))

    @app.get(LICENSES_PATH + "/{identifier}")
    async def get_item(request: Request, identifier: str) -> Response:
        got = await authenticated(request, read=False)
        if isinstance(got, Response):
            return got
        try:
            parse_license_identifier(identifier)
        except CodeError as exc:
            return _refused(400, f"not a license identifier: {exc}")
        found = await run_in_threadpool(endpoint.get, identifier, got[0])
        if found is None:
            return JSONResponse({"detail": f"no license {identifier}"}, 404)
        return JSONResponse(found)

    @app.get(DIGESTS_PATH)
    async def get_digests(request: Request, after: str = "", limit: int = 5000) -> Any:
        got = await authenticated(request, read=False)
        if isinstance(got, Response):
            return got
        page = await run_in_threadpool(
            lambda: endpoint.digests(got[0], after=after, limit=max(1, min(limit, 20000)))
        )
        return {"items": page, "next": page[-1]["ZZBS"] if page else None}

    async def share(request: Request, handler: Callable[[str, Mapping[str, Any]], Any]) -> Any:
        got = await authenticated(request, read=True)
        if isinstance(got, Response):
            return got
        try:
            body = parse_json(got[1])
        except EnvelopeError as exc:
            return _refused(400, str(exc))
        if not isinstance(body, dict):
            return _refused(400, "body must be a JSON object")
        try:
            return await run_in_threadpool(handler, got[0].access_id, body)
        except ShareRequestError as exc:
            return _refused(400, str(exc))

    @app.post(SHARE_QUERY_PATH)
    async def share_query(request: Request) -> Any:
        return await share(request, endpoint.share_query)

    @app.post(SHARE_CHECK_PATH)
    async def share_check(request: Request) -> Any:
        return await share(request, endpoint.share_check)

    @app.get(SHARE_LOG_PATH)
    async def share_log(request: Request, limit: int = 100) -> Any:
        got = await authenticated(request, read=False)
        if isinstance(got, Response):
            return got
        return {"uses": await run_in_threadpool(lambda: endpoint.share_log(got[0], limit=limit))}

    @app.get(SHARE_USES_PATH)
    async def share_uses(request: Request, since: str | None = None,
                         until: str | None = None) -> Any:
        got = await authenticated(request, read=False)
        if isinstance(got, Response):
            return got
        try:
            start, end = uselog.parse_window(since, until)
        except ShareRequestError as exc:
            return _refused(400, str(exc))
        return await run_in_threadpool(lambda: endpoint.share_uses(since=start, until=end))

    @app.get("/stats")
    async def get_stats(detail: bool = False) -> dict[str, Any]:
        return await run_in_threadpool(lambda: endpoint.stats(detail=detail))

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    return app


def _error(code: int, status: int, message: str) -> JSONResponse:
    """A refused push: the envelope with its head status."""
    return JSONResponse(error_response(status, message), code)


def _refused(code: int, message: str) -> JSONResponse:
    """Any other refused request, the way FastAPI says it."""
    return JSONResponse({"detail": message}, code)


async def _read_body(request: Request, gate: Gate, limit: int) -> bytes | Response:
    """The body, read and fed to ``gate`` chunk by chunk; 413 as soon as it passes ``limit``
    (at once when Content-Length says it will), 400 for a Content-Length that is no number."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            return _error(400, HEAD_BAD_REQUEST, "Content-Length is not a number")
        if int(declared) > limit:
            return _too_large(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return _too_large(request, limit)
        gate.feed(chunk)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(request: Request, limit: int) -> Response:
    log.warning("refused request from %s to %s: body over %d bytes", _client_of(request),
                request.url.path, limit)  # fmt: skip
    return _closing(_error(413, HEAD_TOO_LARGE, f"the request body is over {limit} bytes"))


def _closing(response: Response) -> Response:
    """``response``, then the connection closed: the rest of a body refused unread is never
    taken in (uvicorn would otherwise read it to the end to keep the connection alive)."""
    response.headers["Connection"] = "close"
    return response


def _outside(credential: Credential, items: Sequence[Any]) -> str | None:
    """The first department (USCC) an item's identifier or predecessor names that
    ``credential`` may not push for; malformed identifiers are left to the item's schema."""
    for raw in items:
        if not isinstance(raw, dict):
            continue
        for key in ("ZZBS", "associatedZZBS"):
            ident = raw.get(key)
            if not isinstance(ident, str):
                continue
            try:
                issuer = parse_license_identifier(ident).issuer_code
            except CodeError:
                continue
            if not credential.covers(issuer):
                return issuer
    return None


def start_lines(
    *, url: str, credentials: Sequence[Credential], anchors_path: Path, anchors: int,
    max_body: int, auth: Authenticator,
) -> list[str]:
    """What the platform says on start: where it listens, whom it accepts, what it trusts and
    its limits (never a secret)."""
    lines = [_("mock provincial platform (TEST ONLY) listening on {url}", url=url)]
    lines += [_("  credential {access_id} ({scheme}): {scope}", access_id=c.access_id,
                scheme=c.scheme, scope=c.scope) for c in credentials]  # fmt: skip
    lines.append(ngettext("  trust anchors: {path} ({n} certificate)",
                          "  trust anchors: {path} ({n} certificates)", anchors,
                          path=anchors_path, n=anchors))  # fmt: skip
    lines.append(_("  limits: request body {size} bytes, {items} items per push; HMAC "
                   "timestamps {age} s old to {future} s ahead, nonces kept as long",
                   size=max_body, items=MAX_ITEMS, age=format(auth.max_age, "g"),
                   future=format(auth.max_future, "g")))
    return lines


def serve(
    *,
    port: int,
    home: Path,
    anchors_path: Path,
    tokens: Mapping[str, str] | None = None,
    credentials: Sequence[Credential] = (),
    faults: Faults | None = None,
    hold_unknown: bool = True,
    verify_workers: int = 0,
    clock: Callable[[], dt.datetime] = _utc_now,
    max_body: int = MAX_BODY,
    say: Callable[[str], None] = print,
) -> None:
    """Serve the platform on 127.0.0.1:``port`` (0: any free port) with its database at
    ``<home>/province.db``; once it listens, ``say`` each of :func:`start_lines`."""

    home.mkdir(parents=True, exist_ok=True)
    anchors = load_anchors(anchors_path)
    app = create_app(
        db_url=f"sqlite:///{home.resolve() / 'province.db'}",
        anchors=anchors,
        tokens=tokens,
        credentials=credentials,
        faults=faults,
        hold_unknown=hold_unknown,
        verify_workers=verify_workers,
        clock=clock,
        max_body=max_body,
    )
    endpoint: ProvinceEndpoint = app.state.endpoint
    # Bound here so that the address said is the one listening (port 0 included).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        endpoint.close()
        raise ConfigError(_("cannot listen on 127.0.0.1:{port}: {why}", port=port,
                            why=os_reason(exc))) from exc
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for line in start_lines(url=url, credentials=endpoint.auth.credentials,
                            anchors_path=anchors_path, anchors=len(anchors), max_body=max_body,
                            auth=endpoint.auth):  # fmt: skip
        say(line)
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    finally:
        endpoint.close()
        sock.close()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m registry.mockprovince.server --port P --home DIR --anchors root.pem
    --credentials FILE``"""
    parser = argparse.ArgumentParser(
        prog="python -m registry.mockprovince.server",
        description="Run the mock provincial license platform (TEST ONLY) on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--home", type=Path, required=True, help="folder for province.db")
    parser.add_argument("--anchors", type=Path, required=True, help="PEM trust anchors")
    parser.add_argument("--credentials", type=Path, default=os.environ.get(CREDENTIALS_VAR),
                        help="credentials file, mode 0600 (default: $LICREG_PROVINCE_CREDENTIALS)")
    parser.add_argument("--max-body", type=int, default=MAX_BODY,
                        help="most bytes of a request body (default %(default)s)")
    parser.add_argument("--fault", action="append", default=[], metavar="NAME=VALUE",
                        help="inject a fault, e.g. error_rate=0.1 or seed=7 (repeatable)")
    parser.add_argument("--faults", type=Path, default=None, help="JSON file of fault settings")
    parser.add_argument("--reject-unknown", action="store_true",
                        help="reject status events for unknown versions instead of holding them")
    parser.add_argument("--workers", type=int, default=0,
                        help="processes that verify signatures (0: in the web process)")
    parser.add_argument("--clock-file", type=Path, default=None,
                        help="TEST ONLY: read the platform's clock from this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:
        if args.credentials is None:
            raise ConfigError(f"give --credentials FILE or set {CREDENTIALS_VAR}")
        base = Faults.from_file(args.faults) if args.faults else None
        faults = Faults.parse(args.fault, base=base)
        serve(port=args.port, home=args.home, anchors_path=args.anchors,
              credentials=load_credentials(args.credentials), faults=faults,
              hold_unknown=not args.reject_unknown, verify_workers=args.workers,
              clock=file_clock(args.clock_file) if args.clock_file else _utc_now,
              max_body=args.max_body, say=lambda line: print(line, flush=True))  # fmt: skip
    except RegistryError as exc:  # e.g. unreadable anchors: a sentence, not a traceback
        print(exc.diagnostics(), file=sys.stderr)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
