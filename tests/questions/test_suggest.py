"""Suggested lecturers: the student's choice first, then interest profiles matching the question's
words (diacritics folded), then lecturers of the course's unit — each with its reason."""

import pytest
from sqlalchemy import select, update

from crm.interests.models import InterestProfile
from crm.liaison.models import Contact
from crm.questions.models import Question
from crm.questions.services.suggest import Suggester
from tests.questions.helpers import make_world


def _question(**values) -> Question:
    base = {"reference": "CH-SUGGEST", "student_name": "Sinh viên", "student_email": "sv@example.edu.vn",
            "email_key": "sv@example.edu.vn", "topic": "Câu hỏi", "body": "", "relayed_text": "", "status": "new"}
    base.update(values)
    return Question(**base)


@pytest.fixture
async def world(factory):
    return await make_world(factory)


async def _suggest(session_maker, question_id: int):
    async with session_maker() as s:
        question = await s.get(Question, question_id)
        return [(x.contact.full_name, x.reasons) for x in await Suggester(s).suggest(question)]


async def test_a_profile_match_ranks_first_without_diacritics(world, factory, session_maker):
    q = await factory.add(_question(topic="Ngu phap", relayed_text="Em hoi ve NGU PHAP tieng Viet hien dai."))
    [(name, reasons)] = await _suggest(session_maker, q.id)
    assert name == "Nguyễn Thị Thanh Hương"
    assert reasons == ["Hồ sơ quan tâm “Ngữ pháp tiếng Việt” phù hợp: ngữ pháp."]


async def test_the_students_choice_then_profiles_then_the_unit(world, factory, session_maker):
    q = await factory.add(_question(topic="Học máy", relayed_text="Tài liệu khai phá dữ liệu và học máy?",
                                    group_id=world.group.id, requested_lecturer_id=world.khoa.id))
    ranked = await _suggest(session_maker, q.id)
    assert [name for name, _ in ranked] == ["Ngô Minh Khoa", "Bùi Thị Thu Trang"]
    khoa_reasons, trang_reasons = ranked[0][1], ranked[1][1]
    assert khoa_reasons[0] == "Sinh viên chọn." and khoa_reasons[1].startswith("Giảng dạy tại Khoa Công nghệ Thông tin")
    assert trang_reasons[0] == "Hồ sơ quan tâm “Học máy” phù hợp: học máy, khai phá dữ liệu."


async def test_inactive_lecturers_and_paused_profiles_are_not_suggested(world, factory, session_maker):
    async with session_maker() as s, s.begin():
        await s.execute(update(InterestProfile).where(InterestProfile.contact_id == world.huong.id).values(is_active=False))
        await s.execute(update(Contact).where(Contact.id == world.trang.id).values(is_active=False))
    q = await factory.add(_question(topic="Ngữ pháp và học máy", relayed_text="ngữ pháp, học máy"))
    assert await _suggest(session_maker, q.id) == []


async def test_a_question_about_nothing_known_has_no_suggestion(world, factory, session_maker):
    q = await factory.add(_question(topic="Giờ mở cửa", relayed_text="Thư viện mở cửa mấy giờ vào thứ bảy?"))
    assert await _suggest(session_maker, q.id) == []


async def test_an_edited_profile_is_used_at_once(world, factory, session_maker):
    q = await factory.add(_question(topic="Văn học dân gian", relayed_text="Tài liệu về văn học dân gian Việt Nam?"))
    assert await _suggest(session_maker, q.id) == []
    async with session_maker() as s, s.begin():
        profile = await s.scalar(select(InterestProfile).where(InterestProfile.contact_id == world.huong.id))
        profile.keywords = [*profile.keywords, "văn học dân gian"]
    [(name, reasons)] = await _suggest(session_maker, q.id)
    assert name == "Nguyễn Thị Thanh Hương" and reasons == ["Hồ sơ quan tâm “Ngữ pháp tiếng Việt” phù hợp: văn học dân gian."]
