"""MARC ingest end to end: 100,000 generated MARC21 records read and stored, and 20,000 for comparison.

Generates realistic records with pymarc (Vietnamese and English titles and authors, ISBNs, DDC
or LCC numbers, subjects, publication, Koha 952 holdings with acquisition dates; about 10 % of
the records share an ISBN or a title and author with an earlier one, so deduplication works),
then times ``iter_marc`` + ``ingest`` in a fresh subprocess per file, so its peak RSS
(``ru_maxrss``) is the ingest's own. Targets: at least 3,000 records/s on SQLite, and a peak RSS
under 300 MB that does not grow with the file size.

    .venv/bin/python -m benchmarks --only marc_ingest [--database-url postgresql+asyncpg://…]
    .venv/bin/python -m benchmarks.marc_ingest --sizes 20000,100000
"""

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pymarc import Field, Indicators, Record, Subfield

ROOT = Path(__file__).resolve().parent.parent
SIZES = (20_000, 100_000)

VI_WORDS = ["thư viện", "số hóa", "giáo trình", "quản lý", "thông tin", "dữ liệu", "khoa học", "giáo dục", "đại học",
            "kinh tế", "phát triển", "công nghệ", "nghiên cứu", "văn hóa", "lịch sử", "Việt Nam", "xã hội", "môi trường",
            "pháp luật", "y học", "nông nghiệp", "trí tuệ nhân tạo", "học máy", "mạng máy tính", "kế toán", "tài chính"]
EN_WORDS = ["library", "digital", "management", "information", "data", "science", "education", "economics",
            "development", "technology", "research", "culture", "history", "society", "environment", "law",
            "medicine", "agriculture", "learning", "networks", "accounting", "finance", "introduction", "principles"]
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Phan", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương"]
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Thanh", "Ngọc", "Quang", "Thu"]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hùng", "Lan", "Linh", "Mai", "Nam", "Sơn", "Tâm"]
EN_FAMILY = ["Smith", "Johnson", "Brown", "Taylor", "Miller", "Wilson", "Moore", "Clark", "Lewis", "Walker"]
EN_GIVEN = ["John", "Mary", "David", "Susan", "Michael", "Linda", "James", "Karen", "Robert", "Laura"]
PUBLISHERS = ["Nxb. Đại học Quốc gia Hà Nội", "Nxb. Giáo dục Việt Nam", "Nxb. Khoa học và Kỹ thuật", "Springer",
              "O'Reilly", "Routledge", "Nxb. Thông tin và Truyền thông", "Elsevier"]
SUBJECTS_VI = ["Thư viện số", "Quản lý thông tin", "Công nghệ thông tin", "Giáo dục đại học", "Kinh tế học", "Lịch sử"]
SUBJECTS_EN = ["Digital libraries", "Information science", "Computer science", "Higher education", "Economics"]


def _isbn(rng: random.Random) -> str:
    body = "978604" + "".join(str(rng.randrange(10)) for _ in range(6))
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _field(tag: str, ind: str, *pairs: str) -> Field:
    return Field(tag=tag, indicators=Indicators(ind[0], ind[1]),
                 subfields=[Subfield(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)])


def generate(path: Path, count: int, seed: int = 20261123) -> None:
    """Write ``count`` MARC21 records (UTF-8) to ``path``."""
    rng = random.Random(seed)
    recent: list[tuple[str, str, str]] = []  # (isbn, title, author) of earlier records, for duplicates
    with path.open("wb") as out:
        for i in range(count):
            vietnamese = rng.random() < 0.6
            words = VI_WORDS if vietnamese else EN_WORDS
            title = " ".join(rng.sample(words, rng.randint(3, 6))).capitalize() + f" {i % 997}"
            if vietnamese:
                author = f"{rng.choice(FAMILY)}, {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
            else:
                author = f"{rng.choice(EN_FAMILY)}, {rng.choice(EN_GIVEN)}"
            isbn = _isbn(rng)
            roll = rng.random()
            if recent and roll < 0.05:
                isbn = rng.choice(recent)[0]  # another copy or edition record with the same ISBN
            elif recent and roll < 0.10:
                _isbn_, title, author = rng.choice(recent)  # same title and author, no shared ISBN
            recent.append((isbn, title, author))
            if len(recent) > 2000:
                recent.pop(0)
            year = rng.randint(1990, 2025)
            record = Record(force_utf8=True, leader="00000nam a2200000 a 4500")
            record.add_field(
                Field(tag="001", data=f"BENCH{i:07d}"),
                Field(tag="003", data="VNU-BENCH"),
                Field(tag="008", data=f"240101s{year}    vm            000 0 {'vie' if vietnamese else 'eng'} d"),
                _field("020", "  ", "a", f"{isbn} (bìa mềm)" if vietnamese else isbn),
            )
            if rng.random() < 0.7:
                record.add_field(_field("082", "04", "a", f"{rng.randint(0, 999):03d}.{rng.randint(1, 9999)}", "b", "NG-A"))
            else:
                record.add_field(_field("050", "00", "a", f"{rng.choice(['QA', 'Z', 'HF', 'LB', 'PN'])}{rng.randint(1, 9999)}.{rng.randint(1, 99)}",
                                        "b", f".{rng.choice('ABCDEFGHMNPS')}{rng.randint(10, 99)} {year}"))
            record.add_field(
                _field("100", "1 ", "a", author + ","),
                _field("245", "10", "a", title + " :", "b", "giáo trình /" if vietnamese else "an introduction /",
                       "c", author + "."),
                _field("260", "  ", "a", "Hà Nội :" if vietnamese else "New York :", "b", rng.choice(PUBLISHERS) + ",", "c", f"{year}."),
                _field("300", "  ", "a", f"{rng.randint(80, 600)} tr. ;", "c", "24 cm."),
            )
            for heading in rng.sample(SUBJECTS_VI if vietnamese else SUBJECTS_EN, rng.randint(1, 3)):
                record.add_field(_field("650", " 7" if vietnamese else " 0", "a", heading, "2", "Bộ TK TVQG")
                                 if vietnamese else _field("650", " 0", "a", heading + "."))
            acquired = f"{rng.randint(2015, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            record.add_field(_field("952", "  ", "a", "TTTV", "d", acquired, "y", "BK"))
            out.write(record.as_marc())


def _child(path: str, url: str) -> None:
    """Ingest one file (in a fresh process) and print the numbers as JSON."""
    os.environ["CRM_DATABASE_URL"] = url
    import crm.models  # noqa: F401
    from crm import db
    from crm.settings import load_settings
    from crm.sources.ingest import ingest, marc_source_for_path
    from crm.sources.readers.marc import iter_marc

    async def go() -> dict:
        engine = db.create_engine(load_settings())
        try:
            session_maker = db.session_maker(engine)
            source_id = await marc_source_for_path(session_maker, Path(path))
            started = time.perf_counter()
            with open(path, "rb") as stream:
                finished = await ingest(session_maker, source_id, iter_marc(stream), origin=path)
            seconds = time.perf_counter() - started
        finally:
            await engine.dispose()
        return {"seconds": seconds, "read": finished.read, "new": finished.new, "updated": finished.updated,
                "duplicates": finished.duplicates, "rejected": finished.rejected, "status": finished.status}

    gc.freeze()  # as `crm ingest` does
    numbers = asyncio.run(go())
    numbers["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(numbers))


async def _reset_postgres(url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


def main(database_url: str | None = None, sizes: tuple[int, ...] = SIZES) -> None:
    from crm import db
    from crm.settings import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CRM_VAR_DIR": tmp, "CRM_SECRET_KEY": "benchmark-secret-key-0123456789abcdef"}
        os.environ.update({k: v for k, v in env.items() if k.startswith("CRM_")})
        for size in sizes:
            path = Path(tmp) / f"bench-{size}.mrc"
            started = time.perf_counter()
            generate(path, size)
            print(f"generated {size:,} records ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s")
            url = database_url or f"sqlite+aiosqlite:///{tmp}/bench-{size}.db"
            env["CRM_DATABASE_URL"] = os.environ["CRM_DATABASE_URL"] = url
            if database_url:
                asyncio.run(_reset_postgres(url))
            db.migrate(load_settings())
            child = subprocess.run([sys.executable, "-m", "benchmarks.marc_ingest", "--child", str(path), url],
                                   env=env, cwd=ROOT, capture_output=True, text=True, check=False)
            if child.returncode != 0:
                print(child.stderr[-3000:])
                raise SystemExit(f"the ingest of {size:,} records failed")
            numbers = json.loads(child.stdout.strip().splitlines()[-1])
            label = "PostgreSQL" if database_url else "SQLite"
            print(f"{label:<10} {size:>7,} records: {numbers['seconds']:6.1f} s = {numbers['read'] / numbers['seconds']:7,.0f} records/s "
                  f"end to end; peak RSS {numbers['max_rss_mb']:5.0f} MB; new {numbers['new']:,}, "
                  f"updated {numbers['updated']:,}, duplicates {numbers['duplicates']:,}, rejected {numbers['rejected']:,} "
                  f"({numbers['status']})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=2, metavar=("FILE", "URL"), help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: a temporary SQLite file)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="record counts, comma-separated")
    arguments = parser.parse_args()
    if arguments.child:
        _child(*arguments.child)
    else:
        main(arguments.database_url, tuple(int(s) for s in arguments.sizes.split(",")))
