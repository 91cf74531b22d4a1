"""``licreg bench``: how fast each stage runs on this machine, next to the signing limit.

Generates synthetic department batches (valid codes, three license types, two departments) in a
scratch registry, then measures, each alone: parse, structure, seal, store; the whole path
(CSV → validated, structured, identified, sealed, logged, committed); push to the mock
provincial endpoint in its own process (which verifies every signature); verify. Next to them,
the raw ECDSA P-256 signing rate of one core, measured in the same run.

Nothing is skipped to go fast: every license the whole path produces is stored, sealed and
verifiable afterwards. This is a benchmark, not a test: CI runs it only at a small N.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from registry.license.codes import id_card_check, org_code_check, uscc_check

__all__ = ["BenchReport", "StageResult", "run_bench", "write_synthetic_batch"]

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


@dataclass(frozen=True)
class StageResult:
    """One measured stage."""

    stage: str
    items: int
    seconds: float
    note: str = ""

    @property
    def per_second(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class BenchReport:
    """A whole benchmark run."""

    licenses: int
    sign_limit_per_second: float
    """Raw ECDSA P-256 signatures per second on one core, measured in this run."""
    stages: tuple[StageResult, ...]
    wall_seconds: float
    peak_rss_mib: float
    """Peak resident memory of the benchmark process."""
    worker_peak_rss_mib: float
    """Largest peak resident memory of any worker process it started (fork server, workers)."""
    machine: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "licenses": self.licenses,
            "sign_limit_per_second": round(self.sign_limit_per_second),
            "wall_seconds": round(self.wall_seconds, 2),
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "worker_peak_rss_mib": round(self.worker_peak_rss_mib, 1),
            "machine": self.machine,
            "stages": [
                {**asdict(s), "seconds": round(s.seconds, 3), "per_second": round(s.per_second),
                 "ratio_to_sign_limit": round(s.per_second / self.sign_limit_per_second, 3)}
                for s in self.stages
            ],
        }

    def table(self) -> str:
        lines = [f"{'stage':<34}{'items':>10}{'seconds':>10}{'per s':>10}{'÷ sign':>8}  note"]
        for s in self.stages:
            lines.append(f"{s.stage:<34}{s.items:>10}{s.seconds:>10.2f}{s.per_second:>10.0f}"
                         f"{s.per_second / self.sign_limit_per_second:>8.2f}  {s.note}")
        lines.append(f"raw ECDSA P-256 sign, one core: {self.sign_limit_per_second:,.0f}/s; "
                     f"wall {self.wall_seconds:.1f} s; peak RSS {self.peak_rss_mib:.0f} MiB "
                     f"(largest worker {self.worker_peak_rss_mib:.0f} MiB)")
        return "\n".join(lines)


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


def sign_limit(seconds: float = 1.0) -> float:
    """Raw prehashed ECDSA P-256 signatures per second on this core."""
    key = ec.generate_private_key(ec.SECP256R1())
    algo = ec.ECDSA(utils.Prehashed(hashes.SHA256()))
    digest = hashlib.sha256(b"bench").digest()
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(500):
            key.sign(digest, algo)
        n += 500
    return n / elapsed


@contextmanager
def _timed(results: list[StageResult], stage: str, items: Callable[[], int],
           note: str = "") -> Iterator[None]:
    start = time.perf_counter()
    yield
    results.append(StageResult(stage, items(), time.perf_counter() - start, note))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def descendants_peak_rss_mib() -> float:
    """Largest VmHWM among this process's live descendants (Linux /proc; 0 elsewhere)."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parent[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    mine, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, ppid in parent.items() if ppid in frontier} - mine
        mine |= frontier
    peak = 0
    for pid in mine:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak / 1024


def run_bench(n: int = 100_000, *, workdir: Path | None = None, database_url: str | None = None,
              progress: Callable[[str], None] = lambda _: None) -> BenchReport:
    """Run every stage on ``n`` synthetic licenses in a scratch registry under ``workdir``."""
    from registry.bench import stages as bench_stages

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="licreg-bench-", dir=workdir) as tmp:
        home = Path(tmp)
        limit = sign_limit()
        progress(f"raw ECDSA P-256 sign, one core: {limit:,.0f}/s")
        stages = bench_stages.run_all(n, home=home, database_url=database_url, progress=progress)
    return BenchReport(
        licenses=n, sign_limit_per_second=limit, stages=tuple(stages),
        wall_seconds=time.perf_counter() - started, peak_rss_mib=peak_rss_mib(),
        worker_peak_rss_mib=descendants_peak_rss_mib(),
        machine={"cpus": os.cpu_count(), "database": (database_url or "sqlite").split(":")[0]},
    )
