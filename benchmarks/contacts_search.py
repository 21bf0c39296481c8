"""Diacritic-insensitive contact search at 20,000 contacts, through a real server.

Seeds 20,000 contacts with Vietnamese names, starts `crm serve` in a subprocess on a free port,
and times searches through the JSON API and the HTML list page (sequential requests over
keep-alive, as a librarian's browser or a script makes them). Target: p95 under 50 ms.
"""

import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import create_async_engine

import crm.models  # noqa: F401
from crm import db
from crm.liaison.models import Contact, Unit
from crm.liaison.search import contact_keys
from crm.security.models import User
from crm.security.services import hash_password
from crm.settings import load_settings
from crm.text import fold

CONTACTS = 20_000
QUERIES = 300
ROOT = Path(__file__).resolve().parent.parent

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý"]
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Thanh", "Ngọc", "Quang", "Thu", "Hoài", "Xuân", "Kim", "Anh", "Gia"]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hòa", "Hùng", "Hương", "Khánh", "Lan", "Linh",
         "Long", "Mai", "Minh", "Nam", "Nga", "Ngọc", "Phong", "Phúc", "Quân", "Quỳnh", "Sơn", "Tâm", "Thảo", "Trang",
         "Trung", "Tuấn", "Vân", "Việt", "Yến", "Đạt", "Đông", "Ánh"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def _seed(url: str, rng: random.Random) -> tuple[list[str], str]:
    engine = create_async_engine(url)
    names = []
    async with engine.begin() as conn:
        unit_ids = []
        for i in range(40):
            name = f"Bộ môn {i}"
            result = await conn.execute(insert(Unit).values(code=f"BM{i}", name_vi=name, kind="department",
                                                            search_key=fold(f"BM{i} {name}")).returning(Unit.id))
            unit_ids.append(result.scalar_one())
        rows = []
        for i in range(CONTACTS):
            name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
            email = f"user{i}@bench.edu.vn"
            names.append(name)
            rows.append({"full_name": name, "email": email, "email_key": email, "kind": rng.choice(["lecturer", "student", "researcher"]),
                         "unit_id": rng.choice(unit_ids), "language": "vi", "is_active": True, **contact_keys(name, email)})
        for start in range(0, len(rows), 2000):
            await conn.execute(insert(Contact), rows[start:start + 2000])
        await conn.execute(insert(User).values(email="bench@bench.edu.vn", full_name="Bench", role="admin",
                                               language="vi", is_active=True, password_hash=hash_password("benchmark-pass")))
    if url.startswith("postgresql"):
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    await engine.dispose()
    return names, "bench@bench.edu.vn"


async def _reset_postgres(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


def _queries(names: list[str], rng: random.Random) -> list[str]:
    out = []
    for _ in range(QUERIES):
        name = rng.choice(names)
        style = rng.random()
        if style < 0.3:
            out.append(fold(name))  # "nguyen van an"
        elif style < 0.6:
            out.append(name)  # "Nguyễn Văn An"
        elif style < 0.8:
            out.append(fold(name.split()[-1]))  # a given name alone: many hits
        else:
            out.append(fold(" ".join(name.split()[1:])))  # middle + given name
    return out


def _time(client: httpx.Client, path: str, queries: list[str], headers: dict) -> list[float]:
    timings = []
    for q in queries:
        started = time.perf_counter()
        response = client.get(path, params={"q": q}, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return timings


def _report(label: str, timings: list[float]) -> None:
    print(f"{label:<34} p50 {statistics.median(timings):6.1f} ms   p95 {_percentile(timings, 0.95):6.1f} ms   "
          f"max {max(timings):6.1f} ms   ({len(timings)} requests)")


def main(database_url: str | None = None) -> None:
    rng = random.Random(20261123)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CRM_VAR_DIR": tmp, "CRM_SMTP_SINK": "0", "CRM_RUN_SCHEDULER": "0",
               "CRM_SECRET_KEY": "benchmark-secret-key-0123456789abcdef"}
        url = database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        env["CRM_DATABASE_URL"] = url
        os.environ.update({k: v for k, v in env.items() if k.startswith("CRM_")})
        settings = load_settings()
        if database_url:
            asyncio.run(_reset_postgres(url))
        db.migrate(settings)
        started = time.perf_counter()
        names, email = asyncio.run(_seed(url, rng))
        print(f"seeded {CONTACTS:,} contacts in {time.perf_counter() - started:.1f} s ({'PostgreSQL' if database_url else 'SQLite'})")

        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "crm.cli", "serve", "--port", str(port), "--no-demo", "--no-scheduler"],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=10) as client:
                for _ in range(100):
                    try:
                        client.get("/login")
                        break
                    except httpx.TransportError:
                        time.sleep(0.1)
                page = client.get("/login")
                token = page.text.split('name="_csrf_token" value="')[1].split('"')[0]
                client.post("/login", data={"email": email, "password": "benchmark-pass", "_csrf_token": token})
                queries = _queries(names, rng)
                _time(client, "/api/contacts", queries[:20], {})  # warm-up
                _report("API  GET /api/contacts?q=…", _time(client, "/api/contacts", queries, {}))
                _report("page GET /contacts?q=…", _time(client, "/contacts", queries, {}))
                hits = client.get("/api/contacts", params={"q": "nguyen van an"}).json()
                print(f"'nguyen van an' finds {hits['total']} contacts, e.g. {hits['items'][0]['full_name'] if hits['items'] else '—'}")
        finally:
            server.terminate()
            server.wait(timeout=10)
