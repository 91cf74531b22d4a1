"""The push client: send items to the provincial platform, get one ack per item back.

The caller owns the :class:`httpx.Client` and with it the base URL, the connection pool and the
timeouts; the client never waits forever only if the caller set real timeouts, e.g.
``httpx.Client(base_url=url, timeout=httpx.Timeout(30.0, connect=5.0))``. Tests pass a client
on an :class:`httpx.MockTransport`, or a FastAPI ``TestClient`` (which is an ``httpx.Client``).

Example::

    with httpx.Client(base_url="http://127.0.0.1:8765", timeout=30.0) as http:
        acks = ProvinceClient(http, access_id="city", access_token="t").push(items)

Transient failures (connection errors, timeouts, 5xx, 429) are retried with exponential
backoff and jitter; 429 waits what ``Retry-After`` says. Re-sending is safe because the
platform is idempotent on identifier + version (a stored item comes back ``DUPLICATE``).
Refused credentials raise :class:`AggregationError` at once.

Two ways to push:

- :meth:`ProvinceClient.push` is strict: one ack per item in order, else an error (nothing is
  marked delivered);
- :meth:`ProvinceClient.deliver` is what the sync uses against a platform that may answer
  partly, repeat acks or drop the connection after storing: acks are matched to items by
  (ZZBS, version, eventSeq), items left without a clear ack are sent again (a DUPLICATE then
  settles them), and what is still unsettled after ``max_attempts`` rounds is reported, not
  guessed.

Credentials travel in headers on every request, so the platform checks them before it reads a
body: ``scheme="token"`` as a bearer token, ``scheme="hmac"`` as a signature with a fresh nonce
per attempt (:mod:`registry.province.auth`); the envelope head names the accessId only.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from registry.errors import AggregationError, EnvelopeError
from registry.i18n import _
from registry.province.auth import Credential, request_headers
from registry.province.wire import LICENSES_PATH, Ack, build_request, parse_response

__all__ = ["Delivery", "ProvinceClient", "open_client"]


@dataclass(frozen=True)
class Delivery:
    """What became of the items of one :meth:`ProvinceClient.deliver` call."""

    acks: Mapping[int, Ack]
    """Item position → its ack, for every item with a clear answer."""
    missing: tuple[int, ...] = ()
    """Positions still without a clear answer after every round (not delivered, not refused)."""
    requests: int = 0
    """HTTP requests made (retries included)."""
    duplicate_acks: int = 0
    """Acks the platform repeated (ignored when they agreed)."""
    stray_acks: int = 0
    """Acks for no item sent (ignored)."""
    failures: tuple[str, ...] = field(default_factory=tuple)
    """Transient failures met on the way (``HTTP 503``, ``ReadTimeout: …``)."""

_TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_UNREADABLE = "unreadable answer"


class ProvinceClient:
    """Pushes batches of items; see the module docstring for the retry rules."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        access_id: str,
        access_token: str,
        scheme: str = "token",
        max_attempts: int = 5,
        backoff: float = 0.2,
        max_delay: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``backoff`` is the first retry's base delay (doubled per attempt, capped at
        ``max_delay``, which also caps Retry-After); ``jitter`` returns a number in [0, 1)
        that spreads the delay over [50 %, 100 %] of the base; ``clock`` (Unix seconds)
        timestamps HMAC signatures."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._http = http
        self._credential = Credential(access_id, access_token, scheme)
        self._access_id = access_id
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._max_delay = max_delay
        self._sleep = sleep
        self._jitter = jitter
        self._clock = clock

    @property
    def access_id(self) -> str:
        return self._access_id

    def push(
        self, items: Sequence[Mapping[str, Any]], *, request_id: str | None = None
    ) -> list[Ack]:
        """Send ``items`` in one request and return their acks, in the same order.

        Raises :class:`AggregationError` when the credentials are refused (no retry), when
        the request is refused as a whole, when the acks do not match the items one for one,
        or when every attempt failed transiently (the message names the last failure).
        """
        if not items:
            return []
        response, _failures, _requests = self._send(self._body(items, request_id, None))
        return self._acks(response, items)

    def deliver(
        self,
        items: Sequence[Mapping[str, Any]],
        *,
        blobs: Mapping[str, bytes] | None = None,
        request_id: str | None = None,
    ) -> Delivery:
        """Send ``items`` until each has a clear ack, or ``max_attempts`` rounds have passed.

        Acks are matched by (ZZBS, version, eventSeq), which must be unique in ``items``;
        conflicting repeated acks leave the item unsettled, so it is sent again. Raises
        :class:`AggregationError` only when the credentials are refused, the request is
        refused as a whole, or every transport attempt of a round failed.
        """
        keys = [_key(item) for item in items]
        if len(set(keys)) != len(keys):
            raise ValueError("deliver() needs items with distinct (ZZBS, version, eventSeq)")
        request_id = request_id or uuid.uuid4().hex
        acks: dict[int, Ack] = {}
        pending = list(range(len(items)))
        requests = duplicates = stray = 0
        failures: list[str] = []
        for round_no in range(1, self._max_attempts + 1):
            if not pending:
                break
            if round_no > 1:
                self._sleep(self._delay(round_no - 1, None))
            sent = [items[i] for i in pending]
            rid = request_id if round_no == 1 else f"{request_id}-{round_no}"
            response, met, n = self._send(self._body(sent, rid, blobs), parse=True)
            requests += n
            failures.extend(met)
            if response is None:  # answered, but not with a readable envelope: send again
                continue
            answers: dict[tuple[str, str, int | None], list[Ack]] = {}
            for ack in parse_response(response.json()):
                answers.setdefault((ack.identifier, ack.version, ack.seq), []).append(ack)
            position = {keys[i]: i for i in pending}
            stray += sum(len(v) for k, v in answers.items() if k not in position)
            still: list[int] = []
            for key, i in position.items():
                found = answers.get(key, [])
                duplicates += max(0, len(found) - 1)
                if found and all(_same_answer(a, found[0]) for a in found):
                    acks[i] = found[0]
                else:
                    still.append(i)
            pending = sorted(still)
        return Delivery(
            acks=acks,
            missing=tuple(pending),
            requests=requests,
            duplicate_acks=duplicates,
            stray_acks=stray,
            failures=tuple(failures),
        )

    def get_json(self, path: str, *, params: Mapping[str, str | int] | None = None) -> Any:
        """GET an authenticated JSON resource, with the same retries as a push."""
        url = httpx.URL(path, params=dict(params or {}))
        response, _failures, _requests = self._send(b"", method="GET", url=url)
        try:
            return response.json()
        except ValueError as exc:
            raise AggregationError(_("the platform's answer to {path} is not JSON",
                                     path=path)) from exc

    def post_json(self, path: str, obj: Any) -> Any:
        """POST a JSON body to an authenticated resource and return the JSON answer."""
        body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        response, _failures, _requests = self._send(body, url=httpx.URL(path))
        try:
            return response.json()
        except ValueError as exc:
            raise AggregationError(_("the platform's answer to {path} is not JSON",
                                     path=path)) from exc

    def _body(
        self,
        items: Sequence[Mapping[str, Any]],
        request_id: str | None,
        blobs: Mapping[str, bytes] | None,
    ) -> bytes:
        # One request id for every attempt, so the platform's log shows the resends.
        envelope = build_request(
            items,
            access_id=self._access_id,
            access_token="",  # the secret travels in the headers only
            request_id=request_id or uuid.uuid4().hex,
            blobs=blobs,
        )
        return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def _headers(self, method: str, url: httpx.URL, body: bytes) -> dict[str, str]:
        # raw_path: the path and query as sent, which the signature covers
        return {"Content-Type": "application/json",
                **request_headers(self._credential, method, url.raw_path.decode("ascii"), body,
                                  now=self._clock())}  # fmt: skip

    def _send(
        self,
        body: bytes,
        *,
        method: str = "POST",
        url: httpx.URL | None = None,
        parse: bool = False,
    ) -> tuple[Any, list[str], int]:
        """Send with retries; (the 200 response, transient failures met, requests made).

        With ``parse``, a 200 whose body is not a valid envelope counts as a transient
        failure; when every attempt ends that way the response is None instead of an error.
        """
        url = url or httpx.URL(LICENSES_PATH)
        failures: list[str] = []
        unreadable = False
        for attempt in range(1, self._max_attempts + 1):
            retry_after: float | None = None
            try:
                response = self._http.request(
                    method, url, content=body or None, headers=self._headers(method, url, body)
                )
            except _TRANSIENT_ERRORS as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
            except httpx.HTTPError as exc:
                raise AggregationError(_("cannot reach the platform: {why}", why=exc)) from exc
            else:
                status = response.status_code
                if status == 401:
                    raise AggregationError(_(
                        "the platform refused accessId {access_id!r} (HTTP {status}): check the "
                        "access token configured for the provincial push",
                        access_id=self._access_id, status=status))
                if status == 403:
                    raise AggregationError(_(
                        "the platform refused accessId {access_id!r} (HTTP 403): {message}",
                        access_id=self._access_id, message=_message(response)))
                if status == 429 or status >= 500:
                    failures.append(f"HTTP {status}")
                    if status == 429:
                        retry_after = _retry_after(response.headers.get("Retry-After"))
                elif status != 200:
                    raise AggregationError(_(
                        "the platform refused the request (HTTP {status}): {message}",
                        status=status, message=_message(response)))
                elif parse and not _readable(response):
                    failures.append(_UNREADABLE)
                    unreadable = True
                else:
                    return response, failures, attempt
            if attempt < self._max_attempts:
                self._sleep(self._delay(attempt, retry_after))
        if unreadable and failures[-1] == _UNREADABLE:
            return None, failures, self._max_attempts
        last = failures[-1] if failures else "-"
        if url.path == LICENSES_PATH:
            raise AggregationError(_("gave up sending the items after {n} attempts; last "
                                     "failure: {last}", n=self._max_attempts, last=last))
        raise AggregationError(_("gave up requesting {path} after {n} attempts; last failure: "
                                 "{last}", path=url.path, n=self._max_attempts, last=last))

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self._max_delay)
        base = min(self._backoff * 2 ** (attempt - 1), self._max_delay)
        return float(base * (0.5 + self._jitter() / 2))

    @staticmethod
    def _acks(response: httpx.Response, items: Sequence[Mapping[str, Any]]) -> list[Ack]:
        try:
            acks = parse_response(response.json())
        except (ValueError, EnvelopeError) as exc:
            raise AggregationError(_("the platform's answer is not a valid response: {why}",
                                     why=exc)) from exc
        if len(acks) != len(items):
            raise AggregationError(_(
                "the platform acknowledged {acked} items for {sent} sent; nothing is marked "
                "delivered", acked=len(acks), sent=len(items)))
        for i, (ack, item) in enumerate(zip(acks, items, strict=True)):
            if ack.identifier != item.get("ZZBS"):
                raise AggregationError(_(
                    "ack {i} is for {acked!r} but item {i} is {sent!r}; nothing is marked "
                    "delivered", i=i, acked=ack.identifier, sent=item.get("ZZBS")))
        return acks


@contextmanager
def open_client(
    endpoint: str,
    *,
    access_id: str,
    secret: str,
    scheme: str = "token",
    timeout: float = 30.0,
    attempts: int = 5,
    concurrency: int = 1,
) -> Iterator[ProvinceClient]:
    """A :class:`ProvinceClient` on its own ``httpx.Client``: real timeouts (``timeout`` per
    read, 5 s to connect) and a keep-alive pool sized for ``concurrency`` requests at once."""
    limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency)
    timeouts = httpx.Timeout(timeout, connect=min(5.0, timeout))
    with httpx.Client(base_url=endpoint, timeout=timeouts, limits=limits) as http:
        yield ProvinceClient(http, access_id=access_id, access_token=secret, scheme=scheme,
                             max_attempts=attempts)  # fmt: skip


def _key(item: Mapping[str, Any]) -> tuple[str, str, int | None]:
    return (str(item.get("ZZBS")), str(item.get("version")), item.get("eventSeq"))


def _same_answer(a: Ack, b: Ack) -> bool:
    return (a.result, a.code) == (b.result, b.code)


def _readable(response: httpx.Response) -> bool:
    try:
        parse_response(response.json())
    except (ValueError, EnvelopeError, AggregationError):
        return False
    return True


def _retry_after(value: str | None) -> float | None:
    """Seconds from a delta-seconds Retry-After; None (use backoff) for dates or junk.

    HTTP-date values would need a clock to turn into a delay; the platform sends seconds.
    """
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _message(response: httpx.Response) -> str:
    try:
        head = response.json().get("head", {})
        return str(head.get("message", ""))[:300]
    except (ValueError, AttributeError):
        return response.text[:300]
