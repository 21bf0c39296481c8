"""Demo data of the acquisitions loop: two courses with reading lists checked against the demo's new
acquisitions, a few suggestions and request slips, a budget line. Loaded by crm/demo.py after the
demo's MARC file, so the reading lists resolve against real items (no email is queued)."""

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crm.acquisitions.models import BudgetLine, Course, RequestSlip, Suggestion
from crm.acquisitions.services.citations import CitationService
from crm.acquisitions.services.courses import course_key
from crm.acquisitions.services.parsing import parse_text
from crm.acquisitions.services.resolution import title_key
from crm.acquisitions.services.suggestions import search_key
from crm.liaison.models import Contact, Group, Unit
from crm.settings import Settings
from crm.text import fold

# (code, name, term, unit code, lecturers, groups, reading list as a syllabus writes it)
COURSES = [
    ("TV2012", "Thư viện số", "Học kỳ 1, 2026–2027", "TTTV-TVS", ["Trần Thị Lan", "Lê Hoàng Minh"], ["K65-TTTV"], """\
Tài liệu bắt buộc:
1. Nguyễn Hoàng Sơn (2023), Thư viện số hóa trong trường đại học, NXB Đại học Quốc gia Hà Nội, Hà Nội.
2. Lesk, M. (2005). Understanding digital libraries (2nd ed.). Morgan Kaufmann.
3. Trần Thị Quyên. Số hóa tài liệu di sản. Thông tin và Truyền thông, 2023.
4. Vũ Văn Sơn (2022), Bảo quản tài liệu số, NXB Khoa học Xã hội, Hà Nội.
Tài liệu tham khảo:
5. Ray, J. M. (2014). Research data management. Purdue University Press.
6. Cao Minh Kiểm, Siêu dữ liệu cho thư viện số, Thông tin và Truyền thông, 2021
7. Nguyễn Văn Hùng (2020), Thư viện học đại cương, NXB Giáo dục, Hà Nội.
"""),
    ("KHMT3012", "Học máy", "Học kỳ 1, 2026–2027", "CNTT-KHMT", ["Bùi Thị Thu Trang"], ["K66-KHMT"], """\
Tài liệu bắt buộc:
- Vũ Hữu Tiệp. (2024). Học máy. Khoa học và Kỹ thuật.
- Goodfellow, I., Bengio, Y., & Courville, A. (2016). Deep learning. MIT Press.
Tài liệu tham khảo:
- Bishop, C. M. (2006). Pattern recognition and machine learning. Springer. ISBN 978-0-387-31073-2
- Từ Minh Phương, Trí tuệ nhân tạo, Giáo dục Việt Nam, 2023
- Hồ Tú Bảo, Khoa học dữ liệu, Tri thức, 2026
"""),
]

# (title, authors, kind, suggester: contact name or (name, email), status, reason, status note, course, students)
SUGGESTIONS = [
    ("Văn học Việt Nam hiện đại – Tác giả và tác phẩm", "Nguyễn Đăng Mạnh", "lecturer", "Mai Thị Phương", "accepted",
     "Giáo trình cho lớp K67, học kỳ tới.", None, None, 3),
    ("Giáo trình kế toán tài chính", "Ngô Thế Chi", "student", ("Đặng Thị Ngân", "ngandt@sv.demo.edu.vn"), "new",
     "Thư viện chỉ có bản in năm 2010.", None, None, 1),
    ("Giáo trình kế toán tài chính", "Ngô Thế Chi", "student", ("Lý Thị Thảo", "thaolt@sv.demo.edu.vn"), "new",
     None, None, None, 1),
    ("Python for data analysis", "McKinney, Wes", "lecturer", "Ngô Minh Khoa", "ordered",
     "Cho học phần Khoa học dữ liệu.", "Đã đặt mua qua nhà cung cấp, dự kiến về trong tháng.", "KHMT3012", 5),
    ("Tạp chí Thư viện Việt Nam (bản in)", None, "student", ("Hoàng Thu Giang", "giang.ht@sv.demo.edu.vn"), "rejected",
     None, "Thư viện đã có bản điện tử trên cơ sở dữ liệu; bạn truy cập qua trang thư viện số.", None, 1),
]

# (days ago, title, author, outcome, reason, subject, readers)
SLIPS = [
    (3, "Giáo trình kế toán tài chính", "Ngô Thế Chi", "refused", "not_held", "Kế toán", 4),
    (5, "Học máy", "Vũ Hữu Tiệp", "refused", "on_loan", "Khoa học máy tính", 6),
    (8, "Pattern recognition and machine learning", "Bishop, Christopher M.", "refused", "not_held",
     "Khoa học máy tính", 2),
    (10, "Lịch sử Việt Nam thời kỳ cận đại", "Đinh Xuân Lâm", "met", None, "Lịch sử Việt Nam", 1),
    (12, "Đại Việt sử ký toàn thư (bản khắc in)", None, "refused", "restricted", "Lịch sử Việt Nam", 1),
    (20, "Thi pháp học", "Trần Đình Sử", "refused", "lost", "Văn học", 2),
]


async def load_demo_acquisitions(session_maker: async_sessionmaker, settings: Settings) -> None:
    """Courses with their reading lists (resolved against the demo items), suggestions, slips, a budget line."""
    async with session_maker() as session, session.begin():
        contacts = {c.full_name: c for c in await session.scalars(select(Contact))}
        groups = {g.code: g for g in await session.scalars(select(Group))}
        units = {u.code: u for u in await session.scalars(select(Unit))}
        courses: dict[str, Course] = {}
        citations = CitationService(session, settings)
        for code, name, term, unit, lecturers, group_codes, reading in COURSES:
            course = Course(code=code, name=name, term=term, unit=units.get(unit), search_key=course_key(code, name, term),
                            lecturers=[contacts[n] for n in lecturers if n in contacts],
                            groups=[groups[g] for g in group_codes if g in groups])
            session.add(course)
            await session.flush()
            courses[code] = course
            await citations.add(course, parse_text(reading).citations)
        now = datetime.now(UTC)
        for age, (title, authors, kind, who, status, reason, note, course_code, students) in enumerate(SUGGESTIONS):
            contact = contacts.get(who) if isinstance(who, str) else None
            name, email = (contact.full_name, contact.email) if contact else who
            suggestion = Suggestion(title=title, authors=authors, suggester_kind=kind, contact=contact, suggester_name=name,
                                    suggester_email=email, language="vi", students=students, status=status,
                                    reason=reason, status_reason=note, status_changed_at=now - timedelta(days=age),
                                    course=courses.get(course_code) if course_code else None, title_key=title_key(title))
            suggestion.search_key = search_key(suggestion)
            session.add(suggestion)
            await session.flush()
        first, second = (await session.scalars(select(Suggestion).where(Suggestion.title == "Giáo trình kế toán tài chính")
                                               .order_by(Suggestion.id))).all()
        second.duplicate_of_id = first.id
        today = date.today()
        session.add_all(
            RequestSlip(title=title, author=author, requested_on=today - timedelta(days=days), outcome=outcome,
                        refusal_reason=reason, subject=subject, subject_key=fold(subject), students=readers,
                        title_key=title_key(title))
            for days, title, author, outcome, reason, subject, readers in SLIPS)
        session.add(BudgetLine(name="Giáo trình năm học 2026–2027", amount=50_000_000,
                               notes="Kinh phí bổ sung giáo trình và tài liệu tham khảo bắt buộc."))
