"""Demo questions: one waiting in triage, one relayed days ago (due for a reminder), one answered and
published in the FAQ, one declined — so every page of the relay shows something on first look."""

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from crm.liaison.models import Contact, Group, Interaction
from crm.questions.models import Answer, FaqEntry, Question, QuestionEvent, QuestionNote
from crm.questions.services.common import search_key
from crm.questions.services.faq import faq_search_key
from crm.security.models import User
from crm.text import nfc

# (reference, student, group code, days ago, topic, question, status, lecturer, librarian email,
#  days from asking to relaying, answer or None, librarian's message to the student or None)
QUESTIONS = [
    ("CH-DEMO2K7", "Vũ Tuấn Kiệt", "K66-KHMT", 1, "Tài liệu học máy cho khóa luận",
     "Em đang làm khóa luận về phân loại văn bản tiếng Việt bằng học máy. Thầy cô có thể gợi ý giáo trình "
     "nhập môn và vài bài báo tổng quan không ạ?", "new", None, None, None, None, None),
    ("CH-DEMO5QH", "Bùi Quang Huy", "K66-KHMT", 6, "Kho ngữ liệu tiếng nói tiếng Việt",
     "Em cần một kho ngữ liệu tiếng nói tiếng Việt có gán nhãn để huấn luyện mô hình nhận dạng. "
     "Thư viện hoặc phòng thí nghiệm có dữ liệu nào em được dùng không ạ?", "relayed", "Phan Thị Hồng Nhung",
     "tuan.dm@demo.edu.vn", 1, None, None),
    ("CH-DEMO8MC", "Lê Thị Cúc", "K65-TTTV", 12, "Siêu dữ liệu Dublin Core",
     "Em chưa rõ khi nào nên dùng Dublin Core và khi nào dùng MARC 21 để mô tả tài liệu số. "
     "Cô có thể giải thích giúp em không ạ?", "answered", "Trần Thị Lan", "mai.vt@demo.edu.vn", 1,
     "Dublin Core gọn, hợp với bộ sưu tập số và trao đổi qua OAI-PMH; MARC 21 chi tiết, hợp với mục lục "
     "thư viện. Em đọc chương 3 giáo trình Thư viện số và so sánh hai biểu ghi mẫu trong bài thực hành nhé.", None),
    ("CH-DEMO3TQ", "Trịnh Minh Quân", "K67-NV", 3, "Lịch thi học kỳ",
     "Cho em hỏi lịch thi học phần Văn học Việt Nam hiện đại đến khi nào có ạ?", "declined", None,
     "mai.vt@demo.edu.vn", None, None, "Lịch thi do Phòng Đào tạo công bố trên cổng thông tin sinh viên; "
     "em xem tại mục Lịch thi nhé. Thư viện chỉ chuyển tiếp câu hỏi về học thuật và tài liệu."),
]


def _at(today: date, days_ago: float, hour: int = 9) -> datetime:
    return datetime.combine(today - timedelta(days=days_ago), time(hour), UTC)


async def add_demo_questions(session: AsyncSession, people: dict[str, Contact], groups: dict[str, Group],
                             librarians: dict[str, User], today: date) -> int:
    """Insert the demo questions (the caller owns the transaction); returns how many."""
    for (reference, student, group_code, days, topic, body, status, lecturer_name, librarian_email, relay_after,
         answer_text, message) in QUESTIONS:
        student_contact, group = people[student], groups[group_code]
        lecturer = people.get(lecturer_name) if lecturer_name else None
        librarian = librarians.get(librarian_email) if librarian_email else None
        asked = _at(today, days)
        question = Question(
            reference=reference, student_name=student, student_email=student_contact.email,
            email_key=student_contact.email_key, course=group.name, group_id=group.id, unit_id=group.unit_id,
            lecturer_id=lecturer.id if lecturer else None, librarian_id=librarian.id if librarian else None,
            topic=nfc(topic) or topic, body=nfc(body) or body, relayed_text=nfc(body) or body, status=status,
            consent_share_email=status == "answered", language="vi", created_at=asked, updated_at=asked,
            relay_count=1 if relay_after is not None else 0, student_message=nfc(message),
            relayed_at=asked + timedelta(days=relay_after) if relay_after is not None else None,
        )
        question.search_key = search_key(question)
        session.add(question)
        await session.flush()
        events = [QuestionEvent(question_id=question.id, at=asked, actor="student", action="asked", to_status="new")]
        if question.relayed_at is not None:
            events.append(QuestionEvent(question_id=question.id, at=question.relayed_at, actor="librarian",
                                        user_id=librarian.id, contact_id=lecturer.id, action="relayed",
                                        from_status="new", to_status="relayed", note=lecturer.full_name))
        if answer_text:
            answered = question.relayed_at + timedelta(days=2)
            question.answered_at = answered
            question.rating_helpful, question.rating_used_sources = True, True
            question.rated_at = answered + timedelta(days=1)
            question.faq_student_consent = question.faq_lecturer_consent = True
            session.add(Answer(question_id=question.id, contact_id=lecturer.id, body=nfc(answer_text),
                               created_at=answered, updated_at=answered))
            events.append(QuestionEvent(question_id=question.id, at=answered, actor="lecturer", contact_id=lecturer.id,
                                        action="answered", from_status="relayed", to_status="answered"))
            entry = FaqEntry(question_id=question.id, course=group.name, group_id=group.id, topic=question.topic,
                             question_text=question.body, answer_text=nfc(answer_text), published=True,
                             published_at=answered + timedelta(days=2), published_by_id=librarian.id)
            entry.search_key = faq_search_key(entry)
            session.add(entry)
        if status == "declined":
            question.closed_at = asked + timedelta(hours=3)
            events.append(QuestionEvent(question_id=question.id, at=question.closed_at, actor="librarian",
                                        user_id=librarian.id, action="declined", from_status="new",
                                        to_status="declined", note=question.student_message))
        if status == "relayed":
            session.add(QuestionNote(question_id=question.id, user_id=librarian.id,
                                     body="Cô Nhung đang đi hội thảo, có thể trả lời chậm; nhắc lại sau vài ngày."))
        session.add_all(events)
        contacts = [c for c in (lecturer, student_contact) if c is not None]
        interaction = Interaction(kind="consultation", occurred_on=asked.date(), subject=f"Câu hỏi của sinh viên: {topic}",
                                  notes=f"Câu hỏi {reference} của {student} ({group.name}), trang /questions/{question.id}.",
                                  librarian_id=librarian.id if librarian else None, contacts=contacts, groups=[group])
        session.add(interaction)
        await session.flush()
        question.interaction_id = interaction.id
    await session.flush()
    return len(QUESTIONS)
