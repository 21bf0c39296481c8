"""The demo questions: every page of the relay shows something on first look."""

from sqlalchemy import func, select

from crm.demo import DEMO_ADMIN_EMAIL, DEMO_PASSWORD, load_demo_if_empty
from crm.liaison.models import Interaction
from crm.questions.models import FaqEntry, Question
from tests.conftest import login


async def test_demo_questions_fill_the_queue_the_faq_and_the_reports(settings, session_maker, client):
    assert await load_demo_if_empty(settings) is True
    async with session_maker() as s:
        statuses = dict((await s.execute(select(Question.status, func.count()).group_by(Question.status))).all())
        assert statuses == {"new": 1, "relayed": 1, "answered": 1, "declined": 1}
        assert await s.scalar(select(func.count()).select_from(FaqEntry).where(FaqEntry.published)) == 1
        relayed = await s.scalar(select(Question).where(Question.status == "relayed"))
        assert (await s.get(Interaction, relayed.interaction_id)).kind == "consultation"

    assert "Siêu dữ liệu Dublin Core" in (await client.get("/faq")).text
    await login(client, DEMO_ADMIN_EMAIL, DEMO_PASSWORD)
    queue = await client.get("/questions")
    assert "Tài liệu học máy cho khóa luận" in queue.text and "Kho ngữ liệu tiếng nói tiếng Việt" in queue.text
    assert "Gợi ý:" in queue.text  # the new one has a suggested lecturer
    page = await client.get(f"/questions/{relayed.id}")
    assert page.status_code == 200 and "Phan Thị Hồng Nhung" in page.text and "Cô Nhung đang đi hội thảo" in page.text
    report = await client.get("/questions/reports")
    assert report.status_code == 200 and "Khoa Công nghệ Thông tin" in report.text
