"""GB/T 38540-2020 (version 4) seal and signature structures as asn1crypto classes.

The field names and order follow STANDARDS.md §3.2 and §3.3 (and ofdrw's v4 classes, which
agree). ECDSA P-256 with SHA-256 stands in for SM2 with SM3, and :data:`ECDSA_WITH_SHA256`
says so in ``signAlgID`` / ``signatureAlgID`` instead of pretending to be SM2.

>>> header = SESHeader({"ID": "ES", "version": 4, "Vid": "LICREG"})
>>> header.dump().hex()
'300f1602455302010416064c4943524547'

Decision on ``SES_CertList``: the standard writes it as ``CHOICE { certs SEQUENCE OF OCTET STRING,
certDigestList SEQUENCE OF CertDigestObj }``. Both alternatives are untagged SEQUENCE OF, so they
share the universal tag 16 and no DER reader can tell them apart by the tag alone; asn1crypto's
``Choice`` silently picks the last alternative with that tag (checked in
``tests/seal/test_asn1.py``). The standard's own answer is ``certListType`` (1 = certs,
2 = digests) next to it, which is what ofdrw does too. So :class:`SESCertList` is a
``SEQUENCE OF ANY`` and :func:`cert_list_certs` / :func:`cert_list_digests` read it according to
``certListType``. The bytes on the wire are identical either way.
"""

from __future__ import annotations

from collections.abc import Sequence

from asn1crypto import core

__all__ = [
    "AUTHORIZED_TYPES_OID",
    "CERT_LIST_CERTS",
    "CERT_LIST_DIGESTS",
    "ECDSA_WITH_SHA256",
    "SEAL_VERSION",
    "AuthorizedTypes",
    "CertDigestObj",
    "ExtData",
    "ExtensionDatas",
    "SESCertList",
    "SESESPictrueInfo",
    "SESESPropertyInfo",
    "SESHeader",
    "SESSealInfo",
    "SESSignature",
    "SESeal",
    "TBSSign",
    "authorized_types_ext",
    "cert_list_certs",
    "cert_list_digests",
    "make_cert_list",
    "read_authorized_types",
]

SEAL_VERSION = 4
"""``SES_Header.version`` and ``TBS_Sign.version`` of GB/T 38540-2020."""

ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"
"""ecdsa-with-SHA256 (RFC 5758): the stand-in for SM2-with-SM3 (1.2.156.10197.1.501)."""

AUTHORIZED_TYPES_OID = "2.25.252424209066985179677049525693640330516"
"""ExtData extnID for the license types a seal is authorized for.

A UUID-derived OID (ITU-T X.667, arc 2.25): the integer value of
``uuid5(NAMESPACE_URL, "urn:licreg:gbt38540:ext:authorized-license-types")``
(bde72261-074a-52c6-8690-c461ff03cd14). extnValue is the DER of :class:`AuthorizedTypes`.
"""

CERT_LIST_CERTS = 1
"""certListType: certList holds the signer certificates themselves (DER in OCTET STRINGs)."""
CERT_LIST_DIGESTS = 2
"""certListType: certList holds CertDigestObj {type, value} digests of signer certificates."""


class SESHeader(core.Sequence):
    """SES_Header ::= SEQUENCE { ID IA5String ("ES"), version INTEGER, Vid IA5String }."""

    _fields = [  # noqa: RUF012 - asn1crypto reads these class attributes
        ("ID", core.IA5String),
        ("version", core.Integer),
        ("Vid", core.IA5String),
    ]


class CertDigestObj(core.Sequence):
    """CertDigestObj ::= SEQUENCE { type PrintableString, value OCTET STRING }."""

    _fields = [  # noqa: RUF012
        ("type", core.PrintableString),
        ("value", core.OctetString),
    ]


class SESCertList(core.SequenceOf):
    """SES_CertList, read per ``certListType`` (see the module docstring)."""

    _child_spec = core.Any


class SESESPropertyInfo(core.Sequence):
    """SES_ESPropertyInfo: seal kind, name, the signer certificates it binds, its dates."""

    _fields = [  # noqa: RUF012
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("certListType", core.Integer),
        ("certList", SESCertList),
        ("createDate", core.GeneralizedTime),
        ("validStart", core.GeneralizedTime),
        ("validEnd", core.GeneralizedTime),
    ]


class SESESPictrueInfo(core.Sequence):
    """SES_ESPictrueInfo (sic): image type, bytes and display size in millimetres."""

    _fields = [  # noqa: RUF012
        ("type", core.IA5String),
        ("data", core.OctetString),
        ("width", core.Integer),
        ("height", core.Integer),
    ]


class ExtData(core.Sequence):
    """ExtData ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STR }."""

    _fields = [  # noqa: RUF012
        ("extnID", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extnValue", core.OctetString),
    ]


class ExtensionDatas(core.SequenceOf):
    """ExtensionDatas ::= SEQUENCE OF ExtData."""

    _child_spec = ExtData


class SESSealInfo(core.Sequence):
    """SES_SealInfo: what the seal maker signs."""

    _fields = [  # noqa: RUF012
        ("header", SESHeader),
        ("esID", core.IA5String),
        ("property", SESESPropertyInfo),
        ("picture", SESESPictrueInfo),
        ("extDatas", ExtensionDatas, {"optional": True}),
    ]


class SESeal(core.Sequence):
    """SESeal: the seal info, the maker certificate, and the maker's signature over the info."""

    _fields = [  # noqa: RUF012
        ("eSealInfo", SESSealInfo),
        ("cert", core.OctetString),
        ("signAlgID", core.ObjectIdentifier),
        ("signedValue", core.OctetBitString),
    ]


class TBSSign(core.Sequence):
    """TBS_Sign: what the signer signs; the whole seal is embedded."""

    _fields = [  # noqa: RUF012
        ("version", core.Integer),
        ("eseal", SESeal),
        ("timeInfo", core.GeneralizedTime),
        ("dataHash", core.OctetBitString),
        ("propertyInfo", core.IA5String),
        # EXPLICIT, as in ofdrw's v4 TBS_Sign (DERTaggedObject(true, 0, extDatas)).
        ("extDatas", ExtensionDatas, {"explicit": 0, "optional": True}),
    ]


class SESSignature(core.Sequence):
    """SES_Signature: TBS_Sign, the signer certificate, the algorithm and the signature."""

    _fields = [  # noqa: RUF012
        ("toSign", TBSSign),
        ("cert", core.OctetString),
        ("signatureAlgID", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("timeStamp", core.OctetBitString, {"implicit": 0, "optional": True}),
    ]


class AuthorizedTypes(core.SequenceOf):
    """extnValue of :data:`AUTHORIZED_TYPES_OID`: SEQUENCE OF PrintableString (21-char codes)."""

    _child_spec = core.PrintableString


def make_cert_list(certs: Sequence[bytes]) -> SESCertList:
    """A certList of type :data:`CERT_LIST_CERTS` holding the given DER certificates."""
    return SESCertList([core.Any.load(core.OctetString(der).dump()) for der in certs])


def cert_list_certs(cert_list: SESCertList) -> tuple[bytes, ...]:
    """Read a certList of type 1: the DER certificates. Raises ValueError if it is not one."""
    out = []
    for item in cert_list:
        out.append(item.parse(core.OctetString).native)
    return tuple(out)


def cert_list_digests(cert_list: SESCertList) -> tuple[tuple[str, bytes], ...]:
    """Read a certList of type 2: (digest type, digest) pairs. Raises ValueError if not one."""
    out = []
    for item in cert_list:
        obj = item.parse(CertDigestObj)
        out.append((obj["type"].native, obj["value"].native))
    return tuple(out)


def authorized_types_ext(types: Sequence[str]) -> ExtData:
    """The ExtData carrying the authorized license types (critical: a reader that cannot
    understand it must not treat the seal as unrestricted)."""
    return ExtData(
        {
            "extnID": AUTHORIZED_TYPES_OID,
            "critical": True,
            "extnValue": AuthorizedTypes(list(types)).dump(),
        }
    )


def read_authorized_types(ext: ExtData) -> tuple[str, ...]:
    """The type codes inside an :data:`AUTHORIZED_TYPES_OID` ExtData."""
    value = AuthorizedTypes.load(ext["extnValue"].native, strict=True)
    return tuple(value.native)
