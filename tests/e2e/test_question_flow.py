"""In Chromium, the whole relay: a student asks, a librarian relays, the lecturer answers through the
link found in the email caught by the local SMTP sink, and the student sees the answer.

`crm serve` runs with its embedded SMTP sink on a free port; `crm send` (the outbox sender) delivers
what the pages queued to that sink, exactly as the scheduler's outbox job would.
"""

import os
import re
import subprocess
import sys
import time

import httpx
import pytest

from tests.e2e.conftest import ROOT, _free_port

pytestmark = pytest.mark.browser

PASSWORD = "e2e thư viện 2026"
REPLY_LINK = re.compile(r"https?://\S+/questions/reply/[A-Za-z0-9_.\-]+")


@pytest.fixture
def relay_server(tmp_path):
    """`crm serve` with its SMTP sink, an administrator with an API token, and a lecturer contact."""
    port, smtp_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "CRM_VAR_DIR": str(tmp_path),
        "CRM_DATABASE_URL": os.environ.get("CRM_TEST_E2E_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"),
        "CRM_SECRET_KEY": "e2e-secret-key-0123456789abcdef",
        "CRM_SMTP_SINK": "1",
        "CRM_SMTP_PORT": str(smtp_port),
        "CRM_RUN_SCHEDULER": "0",
        "CRM_BASE_URL": f"http://127.0.0.1:{port}",
    }
    crm = [sys.executable, "-m", "crm.cli"]

    def cli(*args: str) -> str:
        done = subprocess.run([*crm, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    cli("migrate")
    cli("user", "create", "--email", "huong@demo.edu.vn", "--password", PASSWORD, "--name", "Phạm Thị Hương",
        "--role", "admin")
    token = cli("token", "create", "huong@demo.edu.vn").strip()
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
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    unit = api.post("/api/units", json={"code": "CNTT", "name_vi": "Khoa Công nghệ Thông tin", "kind": "faculty"})
    assert unit.status_code == 201, unit.text
    lecturer = api.post("/api/contacts", json={"full_name": "Bùi Thị Thu Trang", "email": "trang@demo.edu.vn",
                                               "kind": "lecturer", "unit_id": unit.json()["id"], "academic_title": "TS."})
    assert lecturer.status_code == 201, lecturer.text
    api.close()
    try:
        yield {"url": base, "send": lambda: cli("send"), "email": "huong@demo.edu.vn"}
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def test_a_question_travels_from_student_to_lecturer_and_back(relay_server, browser):
    base = relay_server["url"]

    # The student asks (no login), choosing the lecturer from the list.
    student = browser.new_context(locale="vi-VN").new_page()
    student.set_default_timeout(15_000)
    student.goto(f"{base}/ask")
    student.locator("#f-student_name").fill("Nguyễn Thị Mai Anh")
    student.locator("#f-email").fill("maianh@sv.demo.edu.vn")
    student.locator("#f-course").fill("K66 Khoa học Máy tính")
    student.locator("#f-lecturer").fill("TS. Bùi Thị Thu Trang — Khoa Công nghệ Thông tin")
    student.locator("#f-topic").fill("Tài liệu nhập môn học máy")
    student.locator("#f-question").fill("Em cần giáo trình nhập môn học máy cho khóa luận, cô gợi ý giúp em ạ.")
    student.get_by_role("button", name="Gửi câu hỏi").click()
    student.wait_for_url(re.compile(r"/questions/track/"))
    assert "Cảm ơn bạn, câu hỏi đã được gửi." in student.content()
    assert "Mới" in student.locator(".badge").first.inner_text()
    relay_server["send"]()  # the confirmation

    # The librarian relays it.
    librarian = browser.new_context(locale="vi-VN").new_page()
    librarian.set_default_timeout(15_000)
    librarian.goto(f"{base}/questions")
    librarian.get_by_label("Email").fill(relay_server["email"])
    librarian.get_by_label("Mật khẩu").fill(PASSWORD)
    librarian.get_by_role("button", name="Đăng nhập").click()
    librarian.wait_for_url(f"{base}/questions")
    librarian.get_by_role("link", name="Tài liệu nhập môn học máy").click()
    librarian.wait_for_url(re.compile(r"/questions/\d+$"))
    assert "Sinh viên chọn." in librarian.content()
    librarian.get_by_role("button", name="Chọn và chuyển tiếp").first.click()
    librarian.wait_for_url(re.compile(r"/questions/\d+$"))
    assert "Đã chuyển tiếp tới giảng viên" in librarian.content()
    relay_server["send"]()  # the email to the lecturer

    # The reply link, as caught by the SMTP sink and shown in the mailbox.
    librarian.goto(f"{base}/mailbox")
    librarian.get_by_role("link", name="Câu hỏi của sinh viên gửi Thầy").first.click()
    librarian.wait_for_url(re.compile(r"/mailbox/\d+$"))
    text = librarian.locator("pre.mail").inner_text()
    reply_url = REPLY_LINK.search(text).group(0)

    # The lecturer answers through the link (no account, another browser).
    lecturer = browser.new_context(locale="vi-VN").new_page()
    lecturer.set_default_timeout(15_000)
    lecturer.goto(reply_url)
    assert "Em cần giáo trình nhập môn học máy" in lecturer.content()
    assert "maianh@sv.demo.edu.vn" not in lecturer.content()  # the student did not share the address
    lecturer.locator("#f-answer").fill("Chào em, em đọc cuốn Nhập môn học máy, chương 1 đến 3, rồi hỏi lại cô nhé.")
    lecturer.get_by_role("button", name="Gửi câu trả lời").click()
    lecturer.wait_for_url(re.compile(r"done=answered"))
    assert "Câu trả lời đang được gửi tới sinh viên" in lecturer.content()
    relay_server["send"]()  # the answer to the student

    # The student sees the answer on the tracking page, and the answer email was delivered.
    student.reload()
    assert "Đã trả lời" in student.locator(".badge").first.inner_text()
    assert "em đọc cuốn Nhập môn học máy, chương 1 đến 3" in student.content()
    assert "Đánh giá câu trả lời" in student.content()
    librarian.goto(f"{base}/mailbox")
    assert librarian.get_by_role("link", name=re.compile("Trả lời câu hỏi CH-")).count() == 1
