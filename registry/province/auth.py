"""Credentials between a registry and the provincial platform: a token, or HMAC signatures.

Each registry has an ``accessId`` and a secret, configured on both sides, in one of two schemes.
Credentials always travel in headers, so the platform checks them before it reads a body:

- ``token``: the secret itself travels, as ``Authorization: Bearer <secret>`` with
  ``X-Access-Id``;
- ``hmac``: the secret never travels. A request carries ``X-Access-Id``, ``X-Timestamp`` (Unix
  seconds), ``X-Nonce`` (fresh for every request) and ``X-Signature`` = hex
  HMAC-SHA256(secret, ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\n`` + hex SHA-256 of the body).
  The platform refuses a timestamp older than ``max_age`` or more than ``max_future`` seconds
  ahead of its clock, and a nonce it has seen within that window, so a captured request cannot
  be replayed, neither later nor at once.

A credential is bound to what it may push for (:meth:`Credential.covers`): the departments
named by their USCC, or a region (a GB/T 2260 division prefix of the departments' USCC,
``*`` for every department). A credential bound to nothing may only look licenses up.
:func:`load_credentials` reads them from a credentials file only its owner may read.

>>> cred = Credential("city", "TEST-ONLY-secret", scheme="hmac", region="330100")
>>> headers = request_headers(cred, "POST", "/api/v1/licenses", b"{}", now=1_700_000_000)
>>> auth = Authenticator({"city": cred})
>>> auth.check(method="POST", path="/api/v1/licenses", body=b"{}", headers=headers,
...            now=1_700_000_030).access_id
'city'
>>> auth.check(method="POST", path="/api/v1/licenses", body=b"{}", headers=headers,
...            now=1_700_000_031).reason
'nonce already used'
>>> cred.covers("11330100MB1703218R"), cred.covers("91350100M000100Y43")
(True, False)
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import os
import re
import secrets
import stat
import threading
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry.errors import ConfigError
from registry.i18n import _, os_reason

__all__ = [
    "ANY_REGION",
    "CREDENTIALS_VAR",
    "SCHEMES",
    "AuthResult",
    "Authenticator",
    "Credential",
    "Gate",
    "load_credentials",
    "request_headers",
    "signature_of",
]

SCHEMES = ("token", "hmac")
"""The credential schemes both sides understand."""
CREDENTIALS_VAR = "LICREG_PROVINCE_CREDENTIALS"
"""The environment variable naming the platform's credentials file."""
ANY_REGION = "*"
"""The region of a credential that may push for every department."""
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True)
class Credential:
    """One caller's credential and what it may push for."""

    access_id: str
    """Who the caller is to the platform."""
    secret: str = field(repr=False)
    """The token (scheme ``token``) or the HMAC key (scheme ``hmac``)."""
    scheme: str = "token"
    """``token`` or ``hmac``."""
    departments: frozenset[str] = frozenset()
    """USCCs of the departments whose licenses it may push (and read whole)."""
    region: str | None = None
    """GB/T 2260 division prefix (``330100`` a city, ``33`` a province) of the departments it
    may push for, matched against characters 3–8 of their USCC; ``*`` every department."""

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise ConfigError(_("unknown credential scheme {scheme!r}; use one of {schemes}",
                                scheme=self.scheme, schemes=", ".join(SCHEMES)))
        if not self.access_id or not self.secret:
            raise ConfigError(_("a credential needs an accessId and a secret"))
        region = self.region
        if region is not None and region != ANY_REGION and not re.fullmatch(r"\d{2,6}", region):
            raise ConfigError(_("credential {access_id!r}: region must be 2 to 6 digits of a "
                                "GB/T 2260 division, or *", access_id=self.access_id))
        for uscc in self.departments:
            if not re.fullmatch(r"[0-9A-Z]{18}", uscc):
                raise ConfigError(_("credential {access_id!r}: department {uscc!r} is not an "
                                    "18-character USCC", access_id=self.access_id, uscc=uscc))

    def covers(self, department: str) -> bool:
        """Whether it may push (and read whole) the licenses issued by ``department`` (USCC)."""
        prefix = self.division_prefix
        return department in self.departments or (
            prefix is not None and department[2:8].startswith(prefix))

    @property
    def division_prefix(self) -> str | None:
        """The USCC division prefix its region covers (``""`` every one, None no region)."""
        if self.region is None or self.region == ANY_REGION:
            return None if self.region is None else ""
        prefix = self.region  # a city's 330100 covers its districts' 3301xx
        while len(prefix) > 2 and prefix.endswith("00"):
            prefix = prefix[:-2]
        return prefix

    @property
    def scope(self) -> str:
        """What it may push for, in a few words (for the platform's start-up lines)."""
        if self.region == ANY_REGION:
            return _("every department")
        parts = [_("region {region}", region=self.region)] if self.region else []
        if self.departments:
            parts.append(_("departments {uscc}", uscc=", ".join(sorted(self.departments))))
        return "; ".join(parts) or _("lookups only")


@dataclass(frozen=True)
class AuthResult:
    """Who a request comes from, or why it is refused."""

    access_id: str | None
    """The authenticated accessId; None when refused."""
    reason: str
    """``ok`` or why the request was refused (for the platform's log, never for the caller)."""
    credential: Credential | None = None
    """The credential that authenticated it."""


def signature_of(
    secret: str, method: str, path: str, timestamp: str, nonce: str, body_sha256: str
) -> str:
    """The hex HMAC-SHA256 a request carries in ``X-Signature`` (``path`` with its query)."""
    message = f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{body_sha256}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def request_headers(
    credential: Credential, method: str, path: str, body: bytes, *, now: float
) -> dict[str, str]:
    """Headers that authenticate one request (``path`` with its query string; ``now``: the
    sender's clock, Unix seconds); an HMAC request gets a fresh nonce each call."""
    if credential.scheme == "token":
        return {"Authorization": f"Bearer {credential.secret}", "X-Access-Id": credential.access_id}
    timestamp, nonce = str(int(now)), secrets.token_urlsafe(18)
    digest = hashlib.sha256(body).hexdigest()
    return {
        "X-Access-Id": credential.access_id,
        "X-Timestamp": timestamp,
        "X-Nonce": nonce,
        "X-Signature": signature_of(credential.secret, method, path, timestamp, nonce, digest),
    }


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class Gate:
    """One request's authentication, in two halves: the headers before the body is read
    (:meth:`Authenticator.begin`), the body as it streams in (:meth:`feed`), then
    :meth:`finish`. ``refused`` is set as soon as the headers alone condemn the request."""

    def __init__(self, refused: AuthResult | None, finish: Any = None) -> None:
        self.refused = refused
        self._finish = finish
        self._hash = hashlib.sha256()

    def feed(self, chunk: bytes) -> None:
        self._hash.update(chunk)

    def finish(self) -> AuthResult:
        """The verdict once the whole body has been fed."""
        if self.refused is not None:
            return self.refused
        result: AuthResult = self._finish(self._hash.hexdigest())
        return result


class Authenticator:
    """The platform's side: which caller sent a request, checked in constant time, with the
    HMAC nonces of the replay window remembered."""

    def __init__(
        self,
        credentials: Mapping[str, Credential],
        *,
        max_age: float = 300.0,
        max_future: float = 30.0,
    ) -> None:
        if not credentials:
            raise ConfigError("the provincial endpoint needs at least one credential")
        self._credentials = dict(credentials)
        self.max_age = max_age
        """Oldest timestamp accepted, in seconds behind the platform's clock."""
        self.max_future = max_future
        """Most a timestamp may be ahead of the platform's clock (the senders' clock skew)."""
        self._seen: dict[tuple[str, str], float] = {}
        self._expiry: collections.deque[tuple[float, tuple[str, str]]] = collections.deque()
        self._lock = threading.Lock()

    @property
    def credentials(self) -> Sequence[Credential]:
        return list(self._credentials.values())

    def begin(self, *, method: str, path: str, headers: Mapping[str, str], now: float) -> Gate:
        """Check what the headers alone can tell; the body's part follows (:class:`Gate`)."""
        lower = {k.lower(): v for k, v in headers.items()}
        if "x-signature" in lower:
            return self._hmac(method, path, lower, now)
        bearer = lower.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            result = self._token(lower.get("x-access-id"), bearer[7:].strip())
            return Gate(result if result.access_id is None else None, lambda _d: result)
        return Gate(AuthResult(None, "no credentials"))

    def check(
        self, *, method: str, path: str, body: bytes, headers: Mapping[str, str], now: float
    ) -> AuthResult:
        """Authenticate a request whose body is at hand (by HMAC headers or a bearer token)."""
        gate = self.begin(method=method, path=path, headers=headers, now=now)
        gate.feed(body)
        return gate.finish()

    def _token(self, access_id: object, token: str) -> AuthResult:
        if not isinstance(access_id, str) or not token:
            return AuthResult(None, "missing accessId or token")
        cred = self._credentials.get(access_id)
        # Compare against something even for an unknown id so timing does not reveal ids.
        usable = cred is not None and cred.scheme == "token"
        expected = cred.secret if cred is not None and usable else "\0"
        if _same(expected, token) and usable:
            return AuthResult(access_id, "ok", cred)
        return AuthResult(None, f"bad token for accessId {access_id!r}")

    def _hmac(self, method: str, path: str, headers: Mapping[str, str], now: float) -> Gate:
        access_id = headers.get("x-access-id", "")
        timestamp, nonce = headers.get("x-timestamp", ""), headers.get("x-nonce", "")
        cred = self._credentials.get(access_id)
        if cred is None or cred.scheme != "hmac":
            return Gate(AuthResult(None, f"unknown HMAC accessId {access_id!r}"))
        if not (timestamp.isascii() and timestamp.isdigit()):  # no "nan", which compares false
            return Gate(AuthResult(None, "X-Timestamp is not whole Unix seconds"))
        age = now - int(timestamp)
        if age > self.max_age:
            return Gate(AuthResult(None, f"X-Timestamp is {age:.0f} s old"))
        if -age > self.max_future:
            return Gate(AuthResult(None, f"X-Timestamp is {-age:.0f} s in the future"))
        if not _NONCE.fullmatch(nonce):
            return Gate(AuthResult(None, "X-Nonce is missing or malformed"))
        if (access_id, nonce) in self._seen:
            return Gate(AuthResult(None, "nonce already used"))
        known = cred

        def finish(body_sha256: str) -> AuthResult:
            expected = signature_of(known.secret, method, path, timestamp, nonce, body_sha256)
            if not _same(expected, headers.get("x-signature", "")):
                return AuthResult(None, f"bad HMAC signature for accessId {access_id!r}")
            if not self._remember((access_id, nonce), now):
                return AuthResult(None, "nonce already used")
            return AuthResult(access_id, "ok", known)

        return Gate(None, finish)

    def _remember(self, key: tuple[str, str], now: float) -> bool:
        """Record a verified nonce for the window; False if it was recorded meanwhile."""
        with self._lock:
            while self._expiry and self._expiry[0][0] < now:
                self._seen.pop(self._expiry.popleft()[1], None)
            if key in self._seen:
                return False
            # Kept until no timestamp it could carry is accepted any more.
            until = now + self.max_age + self.max_future
            self._seen[key] = until
            self._expiry.append((until, key))
            return True


def load_credentials(path: Path, *, environ: Mapping[str, str] | None = None) -> list[Credential]:
    """The credentials of a TOML file only its owner may read (0600 or stricter)::

        [[credential]]
        access_id = "licreg-demo"
        scheme = "token"                 # or "hmac"
        secret_env = "LICREG_PROVINCE_TOKEN"   # or secret = "…" in the file itself
        region = "330100"                # and/or departments = ["11330100MB1703218R"]

    :class:`ConfigError` names the file and the entry when anything is wrong.
    """
    env = os.environ if environ is None else environ
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(_("cannot read the credentials file {file}: {why}", file=path,
                            why=os_reason(exc))) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(_("the credentials file {file} is readable by others (mode {mode}): "
                            "chmod 600 it", file=path, mode=oct(stat.S_IMODE(mode))))
    try:
        entries = tomllib.loads(text).get("credential", [])
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_("{file} is not valid TOML: {why}", file=path, why=exc)) from exc
    if not isinstance(entries, list) or not entries:
        raise ConfigError(_("{file} has no [[credential]] entries", file=path))
    return [_credential(path, n, entry, env) for n, entry in enumerate(entries, start=1)]


def _credential(path: Path, n: int, entry: Any, env: Mapping[str, str]) -> Credential:
    def bad(why: str) -> ConfigError:
        return ConfigError(_("{file}: credential {n}: {why}", file=path, n=n, why=why))

    if not isinstance(entry, dict):
        raise bad(_("not a table"))
    known = {"access_id", "scheme", "secret", "secret_env", "region", "departments"}
    if unknown := sorted(set(entry) - known):
        raise bad(_("unknown key(s) {keys}", keys=", ".join(unknown)))
    secret = entry.get("secret")
    if "secret_env" in entry:
        secret = env.get(str(entry["secret_env"]))
        if not secret:
            raise bad(_("environment variable {name} is not set", name=entry["secret_env"]))
    departments = entry.get("departments", [])
    values = (entry.get("access_id"), secret, entry.get("scheme", "token"), entry.get("region"))
    if not all(isinstance(v, str) for v in values[:3]) or not isinstance(values[3], str | None) \
            or not isinstance(departments, list) \
            or not all(isinstance(d, str) for d in departments):  # fmt: skip
        raise bad(_("access_id, scheme, secret and region are strings, departments a list of "
                    "USCCs"))
    access_id, secret_text, scheme, region = values
    try:
        return Credential(str(access_id), str(secret_text), str(scheme),
                          departments=frozenset(departments), region=region)  # fmt: skip
    except ConfigError as exc:
        raise bad(str(exc)) from exc
