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
Refused credentials and malformed answers raise :class:`AggregationError` at once.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from registry.errors import AggregationError
from registry.province.wire import (
    LICENSES_PATH,
    Ack,
    EnvelopeError,
    build_request,
    parse_response,
)

__all__ = ["ProvinceClient"]

_TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class ProvinceClient:
    """Pushes batches of items; see the module docstring for the retry rules."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        access_id: str,
        access_token: str,
        max_attempts: int = 5,
        backoff: float = 0.2,
        max_delay: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        """``backoff`` is the first retry's base delay (doubled per attempt, capped at
        ``max_delay``, which also caps Retry-After); ``jitter`` returns a number in [0, 1)
        that spreads the delay over [50 %, 100 %] of the base."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._http = http
        self._access_id = access_id
        self._access_token = access_token
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._max_delay = max_delay
        self._sleep = sleep
        self._jitter = jitter

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
        # One request id for every attempt, so the platform's log shows the resends.
        request_id = request_id or uuid.uuid4().hex
        body = json.dumps(
            build_request(
                items,
                access_id=self._access_id,
                access_token=self._access_token,
                request_id=request_id,
            ),
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")
        last_failure = ""
        for attempt in range(1, self._max_attempts + 1):
            retry_after: float | None = None
            try:
                response = self._http.post(
                    LICENSES_PATH, content=body, headers={"Content-Type": "application/json"}
                )
            except _TRANSIENT_ERRORS as exc:
                last_failure = f"{type(exc).__name__}: {exc}"
            except httpx.HTTPError as exc:
                raise AggregationError(f"cannot push to the platform: {exc}") from exc
            else:
                status = response.status_code
                if status in (401, 403):
                    raise AggregationError(
                        f"the platform refused accessId {self._access_id!r} (HTTP {status}): "
                        f"check the access token configured for the provincial push"
                    )
                if status == 429 or status >= 500:
                    last_failure = f"HTTP {status}"
                    if status == 429:
                        retry_after = _retry_after(response.headers.get("Retry-After"))
                elif status != 200:
                    raise AggregationError(
                        f"the platform refused the request (HTTP {status}): {_message(response)}"
                    )
                else:
                    return self._acks(response, items)
            if attempt < self._max_attempts:
                self._sleep(self._delay(attempt, retry_after))
        raise AggregationError(
            f"gave up pushing {len(items)} items after {self._max_attempts} attempts; "
            f"last failure: {last_failure}"
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self._max_delay)
        base = min(self._backoff * 2 ** (attempt - 1), self._max_delay)
        return base * (0.5 + self._jitter() / 2)

    @staticmethod
    def _acks(response: httpx.Response, items: Sequence[Mapping[str, Any]]) -> list[Ack]:
        try:
            acks = parse_response(response.json())
        except (ValueError, EnvelopeError) as exc:
            raise AggregationError(f"the platform's answer is not a valid response: {exc}") from exc
        if len(acks) != len(items):
            raise AggregationError(
                f"the platform acknowledged {len(acks)} items for {len(items)} sent; "
                f"nothing is marked delivered"
            )
        for i, (ack, item) in enumerate(zip(acks, items, strict=True)):
            if ack.identifier != item.get("ZZBS"):
                raise AggregationError(
                    f"ack {i} is for {ack.identifier!r} but item {i} is {item.get('ZZBS')!r}; "
                    f"nothing is marked delivered"
                )
        return acks


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
