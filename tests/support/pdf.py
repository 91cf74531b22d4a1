"""A TEST ONLY PKI and one seal made without a database, for the rendition tests.

:func:`make_kit` builds a :class:`Kit` in a folder; :func:`biz_elements` and
:func:`doctor_elements` are the sealed elements of a 营业执照 and a 医师执业证书.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from PIL import Image

from registry.license.canonical import canonical_bytes
from registry.license.issue import Issuer, build_elements, with_identifier
from registry.license.types import LicenseType, catalogue
from registry.render.fonts import FontStack
from registry.render.pdf.pades import PadesSigner
from registry.render.pdf.write import PreparedTemplate
from registry.seal.making import make_seal
from registry.seal.pki import (
    create_test_pki,
    issue_signer,
    load_maker,
    load_root_cert,
    load_signer_key,
)
from registry.seal.signature import SealingContext
from registry.seal.signer import SoftwareSigner
from registry.template.layout import Layout, layout_for
from tests.conftest import NOW

BIZ = "11100000MB0143028R001"
FOOD = "11100000MB0143028R002"
DOCTOR = "11100000MB15645531001"
ISSUER = Issuer("示范市市场监督管理局", "11330100MB1703218R")
RARE_NAME = "示范市吉𠮷堃商贸有限公司"


@dataclass
class Kit:
    """A TEST ONLY seal for every demo type, and what renders and signs with it."""

    keystore: Path
    root: x509.Certificate
    seal_der: bytes
    cert_der: bytes
    sealing: SealingContext
    signer: SoftwareSigner
    pades: PadesSigner
    fonts: FontStack
    types: dict[str, LicenseType]

    def prepared(self, type_code: str = BIZ, layout: Layout | None = None) -> PreparedTemplate:
        lt = self.types[type_code]
        return PreparedTemplate(layout=layout or layout_for(lt), license_type=lt,
                                seal_der=self.seal_der, fonts=self.fonts)

    def seal_record(self, elements: dict[str, str]) -> tuple[bytes, bytes]:
        """(record, SES_Signature DER) for the elements."""
        record = canonical_bytes(elements)
        digest = hashlib.sha256(record).digest()
        sig = self.sealing.sign(digest, NOW, elements["ZZBS"])
        return record, self.sealing.assemble(NOW, digest, elements["ZZBS"], sig)

    def pdf(self, elements: dict[str, str], *, type_code: str | None = None,
            shown: dict[str, Any] | None = None, pades: PadesSigner | None = None) -> bytes:
        record, ses = self.seal_record(elements)
        signer = pades or self.pades
        unsigned = self.prepared(type_code or elements["ZZLXDM"]).render(
            record, ses, at=NOW, contents_size=signer.reserve, elements=shown)
        return signer.sign(unsigned)


def biz_elements(n: int = 1, *, holder: str = RARE_NAME, fddbr: str = "张𠮷堃") -> dict[str, str]:
    row = {"ZZBH": f"3301000000{n:05d}", "CZZT": holder, "CZZTDM": "91330100MA2000001X",
           "CZZTDMLXDM": "001", "ZZBFRQ": "20240105", "ZZYXQQSRQ": "20240105",
           "ZZYXQJZRQ": "长期", "KZ_LX": "有限责任公司(自然人投资或控股)", "KZ_FDDBR": fddbr,
           "KZ_ZCZB": "100万元", "KZ_CLRQ": "20200301", "KZ_ZS": "浙江省示范市湖滨路1号",
           "KZ_JYFW": "一般项目：日用百货销售；食品销售（仅销售预包装食品）；五金产品零售；"
                      "技术服务、技术开发。（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）"}
    return with_identifier(build_elements(row, catalogue()[BIZ], ISSUER))


def doctor_elements() -> dict[str, str]:
    row = {"ZZBH": "110330100000001", "CZZT": "王堃", "CZZTDM": "33010019800101001X",
           "CZZTDMLXDM": "111", "ZZBFRQ": "20240105", "ZZYXQQSRQ": "20240105",
           "ZZYXQJZRQ": "20290104", "KZ_XB": "男", "KZ_CSRQ": "19800101", "KZ_YSJB": "执业医师",
           "KZ_ZYLB": "临床", "KZ_ZYFW": "内科专业", "KZ_ZYDD": "示范市第一人民医院"}
    return with_identifier(build_elements(row, catalogue()[DOCTOR], ISSUER))


def _seal_picture() -> bytes:
    """A fixed red ring with a dot: the golden PNG must not change when the seal artwork
    (registry.seal.making, another module's business) does."""
    from PIL import ImageDraw

    image = Image.new("RGBA", (240, 240), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((6, 6, 234, 234), outline=(214, 24, 31, 255), width=9)
    draw.ellipse((95, 95, 145, 145), fill=(214, 24, 31, 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def make_kit(root: Path, *, es_id: str = "3301000000001") -> Kit:
    keystore = root / "keystore"
    passphrase = b"TEST-ONLY-pdf-tests"
    start = NOW - dt.timedelta(days=30)
    if not (keystore / "root.pem").exists():
        create_test_pki(keystore, passphrase, now=start)
    signer = issue_signer(keystore, passphrase, es_id=es_id, department_name=ISSUER.name,
                          department_uscc=ISSUER.uscc, now=start,
                          not_after=NOW + dt.timedelta(days=365))
    maker = load_maker(keystore, passphrase)
    seal_der = make_seal(maker=maker, es_id=es_id, kind=2, name=f"{ISSUER.name}行政审批专用章",
                         signer_cert_der=signer.cert_der, authorized_types=[BIZ, FOOD, DOCTOR],
                         created=start, valid_start=start, valid_end=NOW + dt.timedelta(days=365),
                         picture_png=_seal_picture())
    software = SoftwareSigner(load_signer_key(keystore, signer.key_file, passphrase),
                              signer.cert_der)
    return Kit(keystore=keystore, root=load_root_cert(keystore), seal_der=seal_der,
               cert_der=signer.cert_der, sealing=SealingContext(seal_der, software),
               signer=software,
               pades=PadesSigner(software, chain=[maker.cert.public_bytes(Encoding.DER)]),
               fonts=FontStack.discover(), types=catalogue())
