"""RFC 3161 time-stamps for PAdES B-T: a signature-time-stamp over each signature value.

:class:`HttpTimestampSource` asks a time-stamping authority over HTTP (the client is injected:
tests use ``httpx.MockTransport``), checks that the token answers this request (status granted,
same message imprint, same nonce) and returns the token for the CMS unsigned attributes. It does
not judge the TSA's certificate: validators do that against their own trust anchors.

Example::

    tsa = HttpTimestampSource("http://127.0.0.1:8318/tsa", client=httpx.Client(timeout=30))
    pades = PadesSigner(signer, chain=[maker_der], timestamps=tsa)     # → PAdES B-T
"""

from __future__ import annotations

import secrets

import httpx
from asn1crypto import tsp

from registry.errors import TimestampError
from registry.i18n import _

__all__ = [
    "HttpTimestampSource",
]

_GRANTED = frozenset({"granted", "granted_with_mods"})


class HttpTimestampSource:
    """An RFC 3161 time-stamping authority reached over HTTP (RFC 3161 §3.4)."""

    def __init__(self, url: str, *, client: httpx.Client, reserve: int = 8192) -> None:
        self.url = url
        self._client = client
        self._reserve = reserve

    @property
    def reserve(self) -> int:
        """Bytes reserved in /Contents for one token (certificates included)."""
        return self._reserve

    def timestamp(self, digest: bytes) -> bytes:
        """The TimeStampToken (DER ContentInfo) over the SHA-256 ``digest``."""
        nonce = secrets.randbits(63)
        request = tsp.TimeStampReq({
            "version": 1,
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                                "hashed_message": digest},
            "nonce": nonce,
            "cert_req": True,
        })
        try:
            response = self._client.post(
                self.url, content=request.dump(),
                headers={"Content-Type": "application/timestamp-query"})
        except httpx.HTTPError as exc:
            raise TimestampError(_("time-stamping authority {url} unreachable: {detail}",
                                   url=self.url, detail=exc)) from exc
        if response.status_code != 200:
            raise TimestampError(_("time-stamping authority {url} answered HTTP {status}",
                                   url=self.url, status=response.status_code))
        try:
            answer = tsp.TimeStampResp.load(response.content)
            status = answer["status"]["status"].native
            if status not in _GRANTED:
                raise TimestampError(_("time-stamping authority {url} refused: {status}",
                                       url=self.url, status=status))
            token = answer["time_stamp_token"]
            info = token["content"]["encap_content_info"]["content"].parsed
            imprint = info["message_imprint"]
            if (imprint["hash_algorithm"]["algorithm"].native != "sha256"
                    or imprint["hashed_message"].native != digest):
                raise TimestampError(_("the time-stamp token is for another message imprint"))
            if info["nonce"].native != nonce:
                raise TimestampError(_("the time-stamp token does not carry this request's "
                                       "nonce"))
            return bytes(token.dump())
        except TimestampError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise TimestampError(_("unreadable time-stamp response from {url}: {detail}",
                                   url=self.url, detail=exc)) from exc
