"""A real server (`crm serve` in a subprocess) and a real Chromium driven by Playwright.

Browser tests skip when /usr/bin/chromium is absent, unless CRM_REQUIRE_BROWSER=1 (CI), where
its absence is a failure. Playwright never downloads a browser here: it drives Debian's.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

CHROMIUM = os.environ.get("CRM_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
E2E_PASSWORD = "e2e thư viện 2026"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CRM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing and CRM_REQUIRE_BROWSER=1 (install Debian's chromium)")
        pytest.skip(f"{CHROMIUM} not installed")
    return CHROMIUM


@pytest.fixture
def live_server(tmp_path):
    """`crm serve` on a free port with a migrated database and one librarian account."""
    port = _free_port()
    env = {
        **os.environ,
        "CRM_VAR_DIR": str(tmp_path),
        "CRM_DATABASE_URL": os.environ.get("CRM_TEST_E2E_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"),
        "CRM_SECRET_KEY": "e2e-secret-key-0123456789abcdef",
        "CRM_SMTP_SINK": "0",
        "CRM_RUN_SCHEDULER": "0",
        "CRM_BASE_URL": f"http://127.0.0.1:{port}",
    }
    crm = [sys.executable, "-m", "crm.cli"]
    subprocess.run([*crm, "migrate"], env=env, cwd=ROOT, check=True, capture_output=True)
    subprocess.run([*crm, "user", "create", "--email", "lan@demo.edu.vn", "--password", E2E_PASSWORD,
                    "--name", "Trần Thị Lan", "--role", "librarian"], env=env, cwd=ROOT, check=True, capture_output=True)
    log = open(tmp_path / "server.log", "wb")
    server = subprocess.Popen([*crm, "serve", "--port", str(port), "--no-demo", "--no-scheduler"],
                              env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/login", timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError((tmp_path / "server.log").read_text())
            time.sleep(0.2)
    yield {"url": base, "email": "lan@demo.edu.vn", "password": E2E_PASSWORD, "env": env}
    server.terminate()
    server.wait(timeout=10)
    log.close()


@pytest.fixture
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium_path,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync", "--disable-quic"],
        )
        yield b
        b.close()
