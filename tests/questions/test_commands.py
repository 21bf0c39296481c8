"""`crm questions list` and `crm questions remind` against a migrated database."""

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from crm.cli import main
from crm.questions.models import Question
from tests.liaison.people import make_contact


@pytest.fixture
async def data(factory):
    unit = await factory.unit()
    lan = await make_contact(factory, "Trần Thị Lan", "lan@example.edu.vn", unit.id)
    now = datetime.now(UTC)
    common = {"student_name": "Lê Thị Cúc", "student_email": "cuc@example.edu.vn", "email_key": "cuc@example.edu.vn",
              "body": "Nội dung câu hỏi dài.", "relayed_text": "Nội dung câu hỏi dài."}
    await factory.add(Question(reference="CH-CLI0001", topic="Biên mục MARC 21", status="relayed", lecturer_id=lan.id,
                               relay_count=1, relayed_at=now - timedelta(days=4), search_key="bien muc marc 21", **common))
    await factory.add(Question(reference="CH-CLI0002", topic="Phân loại DDC", status="answered", answered_at=now,
                               search_key="phan loai ddc", **common))
    return lan


def _env(settings) -> dict:
    return {"CRM_VAR_DIR": str(settings.var_dir), "CRM_DATABASE_URL": settings.database.url,
            "CRM_SECRET_KEY": settings.secret_key, "CRM_BASE_URL": settings.base_url}


def test_help():
    for command in (["questions"], ["questions", "list"], ["questions", "remind"]):
        result = CliRunner().invoke(main, [*command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output


def test_list_and_remind(settings, data):
    runner = CliRunner()
    result = runner.invoke(main, ["questions", "list"], env=_env(settings), catch_exceptions=False)
    assert result.exit_code == 0
    assert "CH-CLI0001" in result.output and "Trần Thị Lan" in result.output and "Đã chuyển tiếp" in result.output
    assert "CH-CLI0002" not in result.output and "1 câu hỏi" in result.output
    result = runner.invoke(main, ["questions", "list", "--status", "all", "--search", "phan loai", "--language", "en"],
                           env=_env(settings), catch_exceptions=False)
    assert "CH-CLI0002" in result.output and "Answered" in result.output and "1 question" in result.output

    result = runner.invoke(main, ["questions", "remind"], env=_env(settings), catch_exceptions=False)
    assert result.exit_code == 0 and "reminders: 1, escalations: 0" in result.output
    result = runner.invoke(main, ["questions", "remind"], env=_env(settings), catch_exceptions=False)
    assert "reminders: 0, escalations: 0" in result.output
