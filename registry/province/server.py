"""The mock provincial platform: an HTTP service that verifies, stores and acknowledges pushes.

It is a real service in its own process with its own database (DESIGN.md decision 9), so the
push client and the sync are tested against the thing they will meet, not a stub::

    python -m registry.province.server --port 8765 --home var/province \\
        --anchors var/keystore/root.pem --token city=TEST-ONLY-token

In a test, the same app runs in-process::

    app = create_app(db_url="sqlite://", anchors=[root_cert], tokens={"city": "t"})
    TestClient(app).get("/health").json()        # {'ok': True}

Endpoints: ``POST /api/v1/licenses`` (the envelope of :mod:`registry.province.wire`),
``GET /api/v1/licenses/{identifier}``, ``GET /stats``, ``GET /health``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hmac
import json
import logging
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import sessionmaker

from registry.canonical import canonical_bytes
from registry.errors import CodeError, ConfigError, RegistryError, VerificationError
from registry.province.store import (
    StatusUpdate,
    StoredState,
    content_digest,
    get_license,
    lookup,
    open_store,
    stats,
    write_batch,
)
from registry.province.wire import (
    CODE_CONFLICT,
    CODE_OK,
    CODE_SCHEMA,
    CREATING_OPERATE_TYPES,
    HEAD_BAD_REQUEST,
    HEAD_TOO_LARGE,
    HEAD_UNAUTHORIZED,
    LICENSES_PATH,
    Ack,
    AckResult,
    EnvelopeError,
    ItemSchemaError,
    WireItem,
    build_response,
    error_response,
    parse_request,
    validate_item,
)
from registry.verify.core import Verifier
from registry.verify.report import Indication

__all__ = ["MAX_ITEMS", "ProvinceEndpoint", "create_app", "main", "serve"]

MAX_ITEMS = 5000
"""Most items one request may carry (the batch is looked up in one query)."""

log = logging.getLogger(__name__)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ProvinceEndpoint:
    """The platform's receiving logic, without HTTP: credentials, then items in, acks out.

    One :class:`Verifier` serves many requests so that its per-seal and per-certificate caches
    pay off: after the first license of a seal only the integrity check and one ECDSA verify
    remain. It is rebuilt when its validation time is more than ``verifier_max_age`` behind
    the clock, which bounds how stale the validation time of a verdict can be.
    """

    def __init__(
        self,
        *,
        db_url: str,
        anchors: Sequence[x509.Certificate],
        tokens: Mapping[str, str],
        clock: Callable[[], dt.datetime] = _utc_now,
        verifier_max_age: dt.timedelta = dt.timedelta(minutes=1),
    ) -> None:
        if not tokens:
            raise ConfigError("the provincial endpoint needs at least one accessId=token")
        self.engine = open_store(db_url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._anchors = tuple(anchors)
        self._tokens = dict(tokens)
        self._clock = clock
        self._max_age = verifier_max_age
        self._verifier: Verifier | None = None
        self._verifier_at: dt.datetime | None = None
        # One writer at a time: SQLite has a single writer anyway, the look-up-then-insert of a
        # batch must not interleave with another batch, and the Verifier's caches are not
        # thread-safe. CPU work is serialized by the GIL regardless.
        self._lock = threading.Lock()

    def authenticate(self, access_id: object, access_token: object) -> bool:
        """True when the pair is a known accessId with its token (constant-time compare)."""
        if not isinstance(access_id, str) or not isinstance(access_token, str):
            return False
        expected = self._tokens.get(access_id)
        # Compare against something even for an unknown id so timing does not reveal ids.
        ok = hmac.compare_digest((expected or "\0").encode(), access_token.encode())
        return ok and expected is not None

    def _verifier_for(self, now: dt.datetime) -> Verifier:
        at = self._verifier_at
        if self._verifier is None or at is None or not (at <= now <= at + self._max_age):
            self._verifier = Verifier(anchors=self._anchors, at=now)
            self._verifier_at = now
        return self._verifier

    def receive(self, *, access_id: str, request_id: str, items: Sequence[Any]) -> list[Ack]:
        """Judge, store and acknowledge one request's items (one ack per item, same order).

        (1) validate each item's shape and canonicalize its elements (SCHEMA);
        (2) look up the batch's identifiers in one query;
        (3) per item: the same signed content already stored → DUPLICATE, or for a
            status-only operate type with a new certState → ACCEPTED as a status change;
            other content under the same identifier → CONFLICT; a new identifier → verify
            the SES_Signature over the RFC 8785 bytes of the elements at the platform's clock
            and store it when PASSED, else REJECTED with the sub-indication as code;
        (4) write the new versions, the status changes and the request log in one
            transaction, with one executemany statement each.
        """
        at = self._clock()
        # (1) shape, outside the lock: it needs no shared state
        checked: list[_Checked | Ack] = []
        for raw in items:
            try:
                item = validate_item(raw)
            except ItemSchemaError as exc:
                checked.append(_reject(exc.identifier, exc.version, CODE_SCHEMA, str(exc)))
                continue
            try:
                record = canonical_bytes(item.elements)
            except CodeError as exc:  # e.g. a float among the elements
                checked.append(_reject(item.identifier, item.version, CODE_SCHEMA, str(exc)))
                continue
            digest = content_digest(record, item.signature, item.predecessor)
            checked.append(_Checked(item, record, digest))
        with self._lock, self._sessions.begin() as session:
            # (2) one query for the whole batch
            known = lookup(session, [c.item.identifier for c in checked if isinstance(c, _Checked)])
            verifier = self._verifier_for(at)
            inserts: dict[str, dict[str, Any]] = {}
            updates: dict[str, StatusUpdate] = {}
            acks: list[Ack] = []
            # (3) judge each item against what is stored, including earlier items of this batch
            for c in checked:
                if isinstance(c, Ack):
                    acks.append(c)
                    continue
                acks.append(self._judge(c, known, inserts, updates, verifier, at=at))
            for row in inserts.values():
                row.update(access_id=access_id, request_id=request_id)
            # (4) one transaction, bulk statements
            counts = {r: sum(a.result is r for a in acks) for r in AckResult}
            write_batch(
                session,
                inserts=list(inserts.values()),
                updates=list(updates.values()),
                log={
                    "access_id": access_id,
                    "request_id": request_id,
                    "received_at": at,
                    "items": len(acks),
                    "accepted": counts[AckResult.ACCEPTED],
                    "duplicates": counts[AckResult.DUPLICATE],
                    "rejected": counts[AckResult.REJECTED],
                },
                at=at,
            )
        return acks

    @staticmethod
    def _judge(
        c: _Checked,
        known: dict[str, StoredState],
        inserts: dict[str, dict[str, Any]],
        updates: dict[str, StatusUpdate],
        verifier: Verifier,
        *,
        at: dt.datetime,
    ) -> Ack:
        item = c.item
        ident, version, status = item.identifier, item.version, item.status.value
        stored = known.get(ident)
        if stored is not None:
            if stored.content_sha256 != c.digest:
                return _reject(
                    ident,
                    version,
                    CODE_CONFLICT,
                    "this identifier is stored with other signed content; a changed license "
                    "needs a new version",
                )
            if item.operate_type in CREATING_OPERATE_TYPES or stored.status == status:
                return Ack(ident, version, AckResult.DUPLICATE, CODE_OK, "already stored")
            # A status-only event (暂扣, 注销 …) for a stored version: apply it.
            known[ident] = StoredState(stored.content_sha256, status)
            if ident in inserts:
                inserts[ident].update(
                    operate_type=item.operate_type, cert_state=item.cert_state, status=status
                )
            else:
                updates[ident] = StatusUpdate(ident, item.operate_type, item.cert_state, status)
            return Ack(
                ident,
                version,
                AckResult.ACCEPTED,
                CODE_OK,
                f"status changed from {stored.status} to {status}",
            )
        try:
            report = verifier.verify(c.record, item.signature, subject=ident)
        except VerificationError as exc:  # the verifier reports, but stay safe on odd input
            return _reject(ident, version, exc.sub_indication, str(exc))
        if report.indication != Indication.PASSED:
            code = report.sub_indication or str(report.indication)
            message = "; ".join(report.reasons) or f"verification {report.indication}"
            return _reject(ident, version, code, message)
        inserts[ident] = {
            "identifier": ident,
            "version": version,
            "predecessor": item.predecessor,
            "operate_type": item.operate_type,
            "cert_state": item.cert_state,
            "status": status,
            "elements": item.elements,
            "record": c.record,
            "signature": item.signature,
            "content_sha256": c.digest,
            "received_at": at,
            "updated_at": at,
        }
        known[ident] = StoredState(c.digest, status)
        return Ack(ident, version, AckResult.ACCEPTED, CODE_OK, "verified and stored")

    def stats(self) -> dict[str, Any]:
        with self._sessions() as session:
            return stats(session)

    def get(self, identifier: str) -> dict[str, Any] | None:
        with self._sessions() as session:
            return get_license(session, identifier)


@dataclass(frozen=True)
class _Checked:
    """An item that passed the shape checks, with its signed bytes."""

    item: WireItem
    record: bytes
    """RFC 8785 bytes of the elements: what the SES_Signature's dataHash covers."""
    digest: str
    """:func:`content_digest` of the item."""


def _reject(identifier: str, version: str, code: str, message: str) -> Ack:
    return Ack(identifier, version, AckResult.REJECTED, code, message)


def create_app(
    *,
    db_url: str,
    anchors: Sequence[x509.Certificate],
    tokens: Mapping[str, str],
    clock: Callable[[], dt.datetime] = _utc_now,
) -> FastAPI:
    """The platform as an ASGI app; ``tokens`` maps accessId → accessToken."""
    endpoint = ProvinceEndpoint(db_url=db_url, anchors=anchors, tokens=tokens, clock=clock)
    app = FastAPI(title="Mock provincial license platform (TEST ONLY)", docs_url=None)
    app.state.endpoint = endpoint

    @app.post(LICENSES_PATH)
    async def push(request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return JSONResponse(error_response(HEAD_BAD_REQUEST, "body is not JSON"), 400)
        head = body.get("head") if isinstance(body, dict) else None
        head = head if isinstance(head, dict) else {}
        if not endpoint.authenticate(head.get("accessId"), head.get("accessToken")):
            client = request.client.host if request.client else "?"
            log.warning(
                "refused push from %s: unknown or missing credentials for accessId %r",
                client,
                head.get("accessId"),
            )
            return JSONResponse(
                error_response(HEAD_UNAUTHORIZED, "unknown or missing accessId/accessToken"), 401
            )
        try:
            checked_head, items = parse_request(body)
        except EnvelopeError as exc:
            return JSONResponse(error_response(HEAD_BAD_REQUEST, str(exc)), 400)
        if len(items) > MAX_ITEMS:
            return JSONResponse(
                error_response(HEAD_TOO_LARGE, f"at most {MAX_ITEMS} items per request"), 413
            )
        acks = await run_in_threadpool(
            lambda: endpoint.receive(
                access_id=checked_head["accessId"],
                request_id=checked_head["requestId"],
                items=items,
            )
        )
        return JSONResponse(build_response(acks))

    @app.get(LICENSES_PATH + "/{identifier}")
    async def get_item(identifier: str) -> JSONResponse:
        found = await run_in_threadpool(endpoint.get, identifier)
        if found is None:
            return JSONResponse({"detail": f"no license {identifier}"}, 404)
        return JSONResponse(found)

    @app.get("/stats")
    async def get_stats() -> dict[str, Any]:
        return await run_in_threadpool(endpoint.stats)

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    return app


def serve(*, port: int, home: Path, anchors_path: Path, tokens: Mapping[str, str]) -> None:
    """Serve the platform on 127.0.0.1:``port`` with its database at ``<home>/province.db``."""
    import uvicorn

    from registry.verify.bundle import load_anchors

    home.mkdir(parents=True, exist_ok=True)
    app = create_app(
        db_url=f"sqlite:///{home.resolve() / 'province.db'}",
        anchors=load_anchors(anchors_path),
        tokens=tokens,
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def _token(text: str) -> tuple[str, str]:
    access_id, sep, token = text.partition("=")
    if not sep or not access_id or not token:
        raise argparse.ArgumentTypeError(f"expected ID=TOKEN, got {text!r}")
    return access_id, token


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m registry.province.server --port P --home DIR --anchors root.pem --token ID=T``"""
    parser = argparse.ArgumentParser(
        prog="python -m registry.province.server",
        description="Run the mock provincial license platform (TEST ONLY) on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--home", type=Path, required=True, help="folder for province.db")
    parser.add_argument("--anchors", type=Path, required=True, help="PEM trust anchors")
    parser.add_argument(
        "--token",
        type=_token,
        action="append",
        required=True,
        metavar="ID=TOKEN",
        help="an accessId and its accessToken (repeatable)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:
        serve(port=args.port, home=args.home, anchors_path=args.anchors, tokens=dict(args.token))
    except RegistryError as exc:  # e.g. unreadable anchors: a sentence, not a traceback
        print(exc.diagnostics(), file=sys.stderr)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
