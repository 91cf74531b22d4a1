"""Synthetic licenses for the benchmarks: valid codes, real-looking records, a scratch registry.

Nothing here is a test double: the benchmarks run the code users run, on data shaped like a
department's (check-digit-valid holder codes, Chinese names and addresses, a typical
经营范围), in a scratch registry with the TEST ONLY demo world.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from registry.city.demo import MARKET, create_demo_world, init_registry
from registry.config import Settings
from registry.db import make_engine, session_scope
from registry.db.models import Department
from registry.license.codes import id_card_check, org_code_check, uscc_check
from registry.license.issue import issue_rows, issuing
from registry.license.model import JudgedRow
from registry.license.types import catalogue
from registry.seal.queries import SealMaterial, sealing_context

__all__ = [
    "BIZ",
    "DOCTOR",
    "FOOD",
    "in_chunks",
    "pushed_business_license",
    "rendered_business_license",
    "scratch_registry",
    "seal_elements",
    "write_synthetic_batch",
]

BIZ, FOOD, DOCTOR = "11100000MB0143028R001", "11100000MB0143028R002", "11100000MB15645531001"
HEADERS = {
    BIZ: ["证照编号", "持证主体", "持证主体代码", "颁证日期", "有效期起始日期", "有效期截止日期",
          "涉密", "类型", "法定代表人", "注册资本", "成立日期", "住所", "经营范围"],
    FOOD: ["证照编号", "持证主体", "持证主体代码", "颁证日期", "有效期起始日期", "有效期截止日期",
           "涉密", "法定代表人（负责人）", "住所", "经营场所", "主体业态", "经营项目"],
    DOCTOR: ["证照编号", "持证主体", "持证主体代码", "颁证日期", "有效期起始日期", "有效期截止日期",
             "涉密", "性别", "出生日期", "医师级别", "执业类别", "执业范围", "执业地点"],
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘堃"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志"


RARE = ("𠮷", "堃", "㵘", "龘")
"""Characters outside the main CJK font: every tenth rendered holder has one."""
SCOPE = "广告设计、代理；会议及展览服务（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）"
"""A typical 经营范围: the records pushed are as long as real ones."""


def scratch_registry(home: Path, *, passphrase: bytes, now: dt.datetime,
                     database_url: str | None = None) -> tuple[Settings, Engine]:
    """A registry under ``home`` (SQLite unless ``database_url``) with the demo world made a
    day before ``now``."""
    settings = Settings(home=home, database_url=database_url or f"sqlite:///{home / 'registry.db'}",
                        passphrase=passphrase)
    engine = make_engine(settings.database_url)
    init_registry(engine)
    with session_scope(engine) as session:
        create_demo_world(session, settings, now=now - dt.timedelta(days=1))
    return settings, engine


def seal_elements(session: Session, settings: Settings, rows: Sequence[Mapping[str, str]], *,
                  at: dt.datetime, type_code: str = BIZ, department_uscc: str = MARKET.uscc,
                  ) -> int:
    """Seal ``rows`` (accepted elements by code, with ``CZZTDMLXDM``) as licenses of
    ``type_code`` issued by the department, without a batch; returns how many were issued."""
    dept = session.scalars(select(Department).where(Department.uscc == department_uscc)).one()
    target, seal = issuing(session, department=dept, license_type=catalogue()[type_code],
                           at=at)
    sealing = sealing_context(SealMaterial.of(seal, keystore=settings.keystore,
                                              passphrase=settings.require_passphrase()))
    judged = [JudgedRow.accepted(line, row) for line, row in enumerate(rows, start=1)]
    return issue_rows(session, judged, target, sealing, at=at).issued


def rendered_business_license(i: int) -> dict[str, str]:
    """The i-th synthetic 营业执照 of the PDF benchmark (every tenth holder name has a rare
    character, so the fallback font is in the measurement)."""
    body = f"91330100MA{i:07d}"
    rare = RARE[i // 10 % len(RARE)] if i % 10 == 0 else ""
    return {
        "ZZBH": f"3301{i:011d}", "CZZT": f"示范市{rare}第{i}商贸有限公司",
        "CZZTDM": body + uscc_check(body), "CZZTDMLXDM": "001", "ZZBFRQ": "20240105",
        "ZZYXQQSRQ": "20240105", "ZZYXQJZRQ": "长期", "KZ_LX": "有限责任公司(自然人投资或控股)",
        "KZ_FDDBR": f"张{rare or '伟'}{i % 97}", "KZ_ZCZB": f"{100 + i % 900}万元",
        "KZ_CLRQ": "20200301", "KZ_ZS": f"浙江省示范市湖滨路{i}号",
        "KZ_JYFW": "一般项目：日用百货销售；五金产品零售；办公用品销售；技术服务、技术开发。"
                   "（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）",
    }


def pushed_business_license(i: int, *, valid_to: str = "20360512") -> dict[str, str]:
    """The i-th synthetic 营业执照 of the push benchmark, valid until ``valid_to``."""
    return {
        "CZZTDMLXDM": "001", "ZZBH": f"BENCH{i:010d}", "CZZT": f"示范市基准测试{i}有限公司",
        "CZZTDM": "91330102MAT9HT456F", "ZZBFRQ": "20220601", "ZZYXQQSRQ": "20160513",
        "ZZYXQJZRQ": valid_to, "KZ_LX": "有限责任公司（自然人独资）", "KZ_FDDBR": "张三",
        "KZ_ZCZB": "100万元人民币", "KZ_CLRQ": "20160513",
        "KZ_ZS": "示范市东城区和平街887号12幢101室", "KZ_JYFW": SCOPE,
    }


def in_chunks(rows: Iterable[Mapping[str, str]], size: int) -> Iterable[list[Mapping[str, str]]]:
    """``rows`` in lists of ``size`` (one transaction each when sealed)."""
    chunk: list[Mapping[str, str]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _holder_uscc(rng: random.Random, i: int) -> str:
    org = f"M{i:07d}"  # a GB 11714 organization code body, unique per i < 10**7
    body = f"9133010{rng.randrange(10)}{org}{org_code_check(org)}"  # 17 characters
    return body + uscc_check(body)


def _holder_id(rng: random.Random) -> str:
    birth = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(14000))
    body = f"330106{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return body + id_card_check(body)


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


def write_synthetic_batch(path: Path, type_code: str, n: int, *, seed: int, start: int = 0) -> Path:
    """``n`` valid, unexpired rows of ``type_code`` as a UTF-8 CSV with Chinese headers."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, reproducible by seed
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(",".join(HEADERS[type_code]) + "\n")
        for i in range(start, start + n):
            issued = dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(2000))
            ten_years = dt.date(issued.year + 10, issued.month, min(issued.day, 28))
            end = "长期" if rng.random() < 0.3 else f"{ten_years:%Y-%m-%d}"
            common = [f"{type_code[-3:]}{i:012d}", "", "", f"{issued:%Y-%m-%d}",
                      f"{issued:%Y-%m-%d}", end, "否"]
            if type_code == DOCTOR:
                holder = _holder_id(rng)
                common[1:3] = [_name(rng), holder]
                face = ["男" if int(holder[16]) % 2 else "女",
                        f"{holder[6:10]}-{holder[10:12]}-{holder[12:14]}", "执业医师", "临床",
                        "内科专业", "示范市第一人民医院"]
            else:
                common[1:3] = [f"示范市第{i}号商贸有限公司", _holder_uscc(rng, i)]
                if type_code == BIZ:
                    face = ["有限责任公司", _name(rng), f"{rng.randint(1, 999)}万元人民币",
                            f"{issued:%Y-%m-%d}", f"示范市湖滨路{i}号",
                            "日用百货销售；办公用品销售"]
                else:
                    face = [_name(rng), f"示范市湖滨路{i}号", f"示范市湖滨路{i}号",
                            "食品销售经营者（便利店）", "预包装食品销售"]
            f.write(",".join(common + face) + "\n")
    return path
