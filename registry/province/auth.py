"""Credentials between a registry and the provincial platform: a token, or HMAC signatures.

Each registry has an ``accessId`` and a secret, configured on both sides, in one of two schemes:

- ``token``: the secret itself travels, as ``head.accessToken`` in a push envelope or as
  ``Authorization: Bearer <secret>`` (with ``X-Access-Id``) on any request;
- ``hmac``: the secret never travels. A request carries ``X-Access-Id``, ``X-Timestamp`` (Unix
  seconds) and ``X-Signature`` = hex HMAC-SHA256(secret, ``METHOD\\nPATH\\nTIMESTAMP\\n`` + hex
  SHA-256 of the body). The platform refuses a timestamp more than ``max_skew`` seconds from
  its clock, so a captured request cannot be replayed later.

>>> cred = Credential("city", "TEST-ONLY-secret", scheme="hmac")
>>> headers = request_headers(cred, "POST", "/api/v1/licenses", b"{}", now=1_700_000_000)
>>> Authenticator({"city": cred}).check(
...     method="POST", path="/api/v1/licenses", body=b"{}", headers=headers, head=None,
...     now=1_700_000_030).access_id
'city'
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from registry.errors import ConfigError
from registry.i18n import _

__all__ = [
    "SCHEMES",
    "AuthResult",
    "Authenticator",
    "Credential",
    "request_headers",
    "signature_of",
]

SCHEMES = ("token", "hmac")
"""The credential schemes both sides understand."""


@dataclass(frozen=True)
class Credential:
    """One registry's credential."""

    access_id: str
    """Who the registry is to the platform."""
    secret: str
    """The token (scheme ``token``) or the HMAC key (scheme ``hmac``)."""
    scheme: str = "token"
    """``token`` or ``hmac``."""

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise ConfigError(_("unknown credential scheme {scheme!r}; use one of {schemes}",
                                scheme=self.scheme, schemes=", ".join(SCHEMES)))
        if not self.access_id or not self.secret:
            raise ConfigError(_("a credential needs an accessId and a secret"))


@dataclass(frozen=True)
class AuthResult:
    """Who a request comes from, or why it is refused."""

    access_id: str | None
    """The authenticated accessId; None when refused."""
    reason: str
    """``ok`` or why the request was refused (for the platform's log, never for the caller)."""


def signature_of(secret: str, method: str, path: str, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 a request carries in ``X-Signature``."""
    message = f"{method.upper()}\n{path}\n{timestamp}\n{hashlib.sha256(body).hexdigest()}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def request_headers(
    credential: Credential, method: str, path: str, body: bytes, *, now: float
) -> dict[str, str]:
    """Headers that authenticate one request (``now``: the sender's clock, Unix seconds)."""
    if credential.scheme == "token":
        return {"Authorization": f"Bearer {credential.secret}", "X-Access-Id": credential.access_id}
    timestamp = str(int(now))
    return {
        "X-Access-Id": credential.access_id,
        "X-Timestamp": timestamp,
        "X-Signature": signature_of(credential.secret, method, path, timestamp, body),
    }


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class Authenticator:
    """The platform's side: which registry sent a request, checked in constant time."""

    def __init__(self, credentials: Mapping[str, Credential], *, max_skew: float = 300.0) -> None:
        if not credentials:
            raise ConfigError("the provincial endpoint needs at least one credential")
        self._credentials = dict(credentials)
        self._max_skew = max_skew

    def check(
        self,
        *,
        method: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        head: Mapping[str, Any] | None,
        now: float,
    ) -> AuthResult:
        """Authenticate by HMAC headers, a bearer token, or the envelope head, in that order."""
        lower = {k.lower(): v for k, v in headers.items()}
        if "x-signature" in lower:
            return self._hmac(method, path, body, lower, now)
        bearer = lower.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            return self._token(lower.get("x-access-id"), bearer[7:].strip())
        if head is not None:
            return self._token(head.get("accessId"), head.get("accessToken"))
        return AuthResult(None, "no credentials")

    def _token(self, access_id: object, token: object) -> AuthResult:
        if not isinstance(access_id, str) or not isinstance(token, str) or not token:
            return AuthResult(None, "missing accessId or token")
        cred = self._credentials.get(access_id)
        # Compare against something even for an unknown id so timing does not reveal ids.
        expected = cred.secret if cred is not None and cred.scheme == "token" else "\0"
        if _same(expected, token) and cred is not None and cred.scheme == "token":
            return AuthResult(access_id, "ok")
        return AuthResult(None, f"bad token for accessId {access_id!r}")

    def _hmac(
        self, method: str, path: str, body: bytes, headers: Mapping[str, str], now: float
    ) -> AuthResult:
        access_id = headers.get("x-access-id", "")
        timestamp = headers.get("x-timestamp", "")
        cred = self._credentials.get(access_id)
        usable = cred is not None and cred.scheme == "hmac"
        # Unknown ids and token credentials get a dummy key: same work, never a match.
        secret = cred.secret if cred is not None and usable else "\0"
        expected = signature_of(secret, method, path, timestamp, body)
        if not _same(expected, headers.get("x-signature", "")) or not usable:
            return AuthResult(None, f"bad HMAC signature for accessId {access_id!r}")
        try:
            skew = abs(now - float(timestamp))
        except ValueError:
            return AuthResult(None, "X-Timestamp is not a number")
        if skew > self._max_skew:
            return AuthResult(None, f"X-Timestamp is {skew:.0f} s away from the platform clock")
        return AuthResult(access_id, "ok")
