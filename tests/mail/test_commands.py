"""`crm send` and `crm outbox` against the test database and a real SMTP server."""

import asyncio

from click.testing import CliRunner
from sqlalchemy import select

from crm.cli import main
from crm.mail.models import OutboxMessage
from crm.mail.outbox import enqueue, format_address
from tests.mail.smtp_server import start_server


def _env(settings, port: int) -> dict[str, str]:
    return {"CRM_DATABASE_URL": settings.database.url, "CRM_SECRET_KEY": settings.secret_key,
            "CRM_VAR_DIR": str(settings.var_dir), "CRM_SMTP_HOST": "127.0.0.1", "CRM_SMTP_PORT": str(port),
            "CRM_SMTP_SINK": "0", "CRM_MAIL_RETURN_PATH": "bounces@thuvien.demo.edu.vn"}


async def invoke(settings, port: int, *args: str):
    """Run the command in a thread, so the SMTP server keeps serving in the test's event loop."""
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=_env(settings, port),
                                   catch_exceptions=False)


async def _queue(session_maker, n: int) -> None:
    async with session_maker() as s, s.begin():
        for i in range(n):
            await enqueue(s, key=f"digest:{i}", kind="digest", sender="Thư viện <thu-vien@thuvien.demo.edu.vn>",
                          to=format_address(f"Giảng viên {i}", f"gv{i}@demo.edu.vn"), subject=f"Thư mục số {i}",
                          text="Kính gửi Thầy/Cô,\n")


async def test_send_prints_the_report_and_outbox_lists_by_status(settings, session_maker):
    server = await start_server()
    try:
        server.handler.rcpt_replies["gv2@demo.edu.vn"] = "550 5.1.1 User unknown"
        await _queue(session_maker, 3)
        result = await invoke(settings, server.port, "send", "--language", "en")
        assert result.exit_code == 1  # a message failed for good
        assert "Sent 2, retried later 0, failed 1, skipped (undeliverable address) 0" in result.output
        assert len(server.handler.received) == 2

        listed = await invoke(settings, server.port, "outbox", "--status", "failed")
        assert listed.exit_code == 0
        assert "sent: 2" in listed.output and "failed: 1" in listed.output
        assert "gv2@demo.edu.vn" in listed.output and "550 5.1.1 User unknown" in listed.output
        assert "gv1@demo.edu.vn" not in listed.output

        nothing = await invoke(settings, server.port, "send")
        assert nothing.exit_code == 0 and "Đã gửi 0" in nothing.output  # Vietnamese by default
    finally:
        await server.stop()
    async with session_maker() as s:
        assert sorted(await s.scalars(select(OutboxMessage.status))) == ["failed", "sent", "sent"]


def test_send_and_outbox_have_help():
    for command in (["send"], ["outbox"]):
        result = CliRunner().invoke(main, [*command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output
