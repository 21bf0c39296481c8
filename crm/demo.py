"""Demo data: a Vietnamese university, its lecturers, students, groups and three librarians.

Loaded by ``crm serve`` into an empty embedded database (and by ``crm demo``), so the first
look at the product shows a realistic portfolio: faculties with and without a liaison,
interest profiles, and follow-ups due in the coming days on the demo login's home page.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import crm.models  # noqa: F401  (every mapper, so relationships between domains resolve)
from crm import db
from crm.interests.models import InterestProfile
from crm.liaison.models import Contact, Group, Interaction, LiaisonAssignment, Unit
from crm.liaison.search import contact_keys, group_key, profile_key
from crm.liaison.services.units import search_key as unit_search_key
from crm.security.models import User
from crm.security.services import hash_password
from crm.settings import Settings
from crm.text import fold, nfc

DEMO_ADMIN_EMAIL = "admin@demo.edu.vn"
DEMO_PASSWORD = "thuvien2026"
DOMAIN = "demo.edu.vn"

# (code, Vietnamese name, English name, kind, parent code)
UNITS = [
    ("DHKHXHNV", "Trường Đại học Khoa học Xã hội và Nhân văn", "University of Social Sciences and Humanities", "university", None),
    ("TTTT-TV", "Trung tâm Thông tin – Thư viện", "Library and Information Centre", "center", "DHKHXHNV"),
    ("TTTV", "Khoa Thông tin – Thư viện", "Faculty of Information and Library Science", "faculty", "DHKHXHNV"),
    ("TTTV-TVS", "Bộ môn Thư viện số", "Department of Digital Libraries", "department", "TTTV"),
    ("TTTV-QLTT", "Bộ môn Quản lý Thông tin", "Department of Information Management", "department", "TTTV"),
    ("CNTT", "Khoa Công nghệ Thông tin", "Faculty of Information Technology", "faculty", "DHKHXHNV"),
    ("CNTT-KHMT", "Bộ môn Khoa học Máy tính", "Department of Computer Science", "department", "CNTT"),
    ("CNTT-TTNT", "Phòng thí nghiệm Trí tuệ Nhân tạo", "Artificial Intelligence Laboratory", "lab", "CNTT"),
    ("NV", "Khoa Ngữ văn", "Faculty of Literature and Linguistics", "faculty", "DHKHXHNV"),
    ("NV-NNH", "Bộ môn Ngôn ngữ học", "Department of Linguistics", "department", "NV"),
    ("NV-VHVN", "Bộ môn Văn học Việt Nam", "Department of Vietnamese Literature", "department", "NV"),
    ("KT", "Khoa Kinh tế", "Faculty of Economics", "faculty", "DHKHXHNV"),
    ("KT-KTPT", "Bộ môn Kinh tế Phát triển", "Department of Development Economics", "department", "KT"),
    ("LS", "Khoa Lịch sử", "Faculty of History", "faculty", "DHKHXHNV"),
    ("LS-LSVN", "Bộ môn Lịch sử Việt Nam", "Department of Vietnamese History", "department", "LS"),
    ("LS-KCH", "Phòng thí nghiệm Khảo cổ học", "Archaeology Laboratory", "lab", "LS"),
    ("XHH", "Khoa Xã hội học", "Faculty of Sociology", "faculty", "DHKHXHNV"),
    ("XHH-XHHVH", "Bộ môn Xã hội học Văn hóa", "Department of Cultural Sociology", "department", "XHH"),
]

# (academic title, full name, kind, unit code, position)
STAFF = [
    ("GS.TS.", "Nguyễn Văn An", "lecturer", "TTTV", "Trưởng khoa"),
    ("PGS.TS.", "Trần Thị Lan", "lecturer", "TTTV-TVS", "Trưởng bộ môn"),
    ("TS.", "Lê Hoàng Minh", "lecturer", "TTTV-TVS", "Giảng viên"),
    ("ThS.", "Phạm Thu Hà", "lecturer", "TTTV-QLTT", "Giảng viên"),
    ("TS.", "Đặng Quốc Bảo", "lecturer", "TTTV-QLTT", "Phó trưởng khoa"),
    ("ThS.", "Hoàng Thị Ngọc Ánh", "researcher", "TTTV-TVS", "Nghiên cứu viên"),
    ("TS.", "Khúc Thị Vân", "researcher", "TTTV", "Nghiên cứu viên"),
    ("PGS.TS.", "Vũ Đức Thắng", "lecturer", "CNTT", "Trưởng khoa"),
    ("TS.", "Bùi Thị Thu Trang", "lecturer", "CNTT-KHMT", "Trưởng bộ môn"),
    ("TS.", "Ngô Minh Khoa", "lecturer", "CNTT-KHMT", "Giảng viên"),
    ("ThS.", "Đỗ Thành Long", "lecturer", "CNTT-KHMT", "Giảng viên"),
    ("TS.", "Phan Thị Hồng Nhung", "lecturer", "CNTT-TTNT", "Trưởng phòng thí nghiệm"),
    ("TS.", "Trịnh Văn Hùng", "researcher", "CNTT-TTNT", "Nghiên cứu viên"),
    ("ThS.", "Lý Gia Huy", "researcher", "CNTT-TTNT", "Nghiên cứu viên"),
    ("GS.TS.", "Đinh Văn Đức", "lecturer", "NV", "Trưởng khoa"),
    ("PGS.TS.", "Nguyễn Thị Thanh Hương", "lecturer", "NV-NNH", "Trưởng bộ môn"),
    ("TS.", "Lương Văn Tùng", "lecturer", "NV-NNH", "Giảng viên"),
    ("TS.", "Mai Thị Phương", "lecturer", "NV-VHVN", "Giảng viên"),
    ("ThS.", "Tạ Quang Vinh", "lecturer", "NV-VHVN", "Giảng viên"),
    ("PGS.TS.", "Hồ Sỹ Dũng", "lecturer", "KT", "Trưởng khoa"),
    ("TS.", "Dương Thị Mỹ Linh", "lecturer", "KT-KTPT", "Trưởng bộ môn"),
    ("TS.", "Châu Minh Tâm", "lecturer", "KT-KTPT", "Giảng viên"),
    ("ThS.", "Kiều Thị Yến", "lecturer", "KT-KTPT", "Giảng viên"),
    ("GS.TS.", "Lâm Quang Hải", "lecturer", "LS", "Trưởng khoa"),
    ("PGS.TS.", "Tô Thị Hạnh", "lecturer", "LS-LSVN", "Trưởng bộ môn"),
    ("TS.", "Cao Xuân Phúc", "lecturer", "LS-LSVN", "Giảng viên"),
    ("TS.", "Quách Văn Sơn", "lecturer", "LS-KCH", "Trưởng phòng thí nghiệm"),
    ("ThS.", "Võ Thị Kim Oanh", "researcher", "LS-KCH", "Nghiên cứu viên"),
    ("PGS.TS.", "Trương Thị Thu Thủy", "lecturer", "XHH", "Trưởng khoa"),
    ("TS.", "Lưu Đình Khang", "lecturer", "XHH-XHHVH", "Giảng viên"),
    ("TS.", "Hà Thanh Tú", "lecturer", "XHH-XHHVH", "Giảng viên"),
    ("ThS.", "Nghiêm Thị Hoa", "lecturer", "XHH", "Giảng viên"),
]

# (student number, full name, unit code)
STUDENTS = [
    ("20030101", "Nguyễn Thị Mai Anh", "TTTV"),
    ("20030102", "Trần Văn Bình", "TTTV"),
    ("20030103", "Lê Thị Cúc", "TTTV"),
    ("20030104", "Phạm Minh Đức", "TTTV"),
    ("20030105", "Hoàng Thu Giang", "TTTV"),
    ("21020201", "Vũ Tuấn Kiệt", "CNTT"),
    ("21020202", "Đỗ Thị Hằng", "CNTT"),
    ("21020203", "Bùi Quang Huy", "CNTT"),
    ("21020204", "Ngô Thị Kim Chi", "CNTT"),
    ("21020205", "Phan Văn Lợi", "CNTT"),
    ("22010301", "Đặng Thị Ngân", "NV"),
    ("22010302", "Lý Thị Thảo", "NV"),
    ("22010303", "Trịnh Minh Quân", "NV"),
]

# (code, name, kind, unit code, description, members by full name)
GROUPS = [
    ("K65-TTTV", "K65 Thông tin – Thư viện", "cohort", "TTTV", "Sinh viên khóa 65 ngành Thông tin – Thư viện.",
     ["Nguyễn Thị Mai Anh", "Trần Văn Bình", "Lê Thị Cúc", "Phạm Minh Đức", "Hoàng Thu Giang"]),
    ("K66-KHMT", "K66 Khoa học Máy tính", "cohort", "CNTT", "Sinh viên khóa 66 ngành Khoa học Máy tính.",
     ["Vũ Tuấn Kiệt", "Đỗ Thị Hằng", "Bùi Quang Huy", "Ngô Thị Kim Chi", "Phan Văn Lợi"]),
    ("K67-NV", "K67 Ngữ văn", "cohort", "NV", "Sinh viên khóa 67 ngành Ngữ văn.",
     ["Đặng Thị Ngân", "Lý Thị Thảo", "Trịnh Minh Quân"]),
    ("NCTVS", "Nhóm nghiên cứu Thư viện số", "research_group", "TTTV",
     "Nghiên cứu số hóa, bảo quản số và bộ sưu tập số trong thư viện đại học.",
     ["Trần Thị Lan", "Lê Hoàng Minh", "Hoàng Thị Ngọc Ánh", "Khúc Thị Vân", "Phạm Minh Đức", "Hoàng Thu Giang"]),
    ("NCXLNN", "Nhóm nghiên cứu Xử lý ngôn ngữ tự nhiên", "research_group", "CNTT-TTNT",
     "Xử lý ngôn ngữ tự nhiên tiếng Việt: kho ngữ liệu, mô hình ngôn ngữ, dịch máy.",
     ["Phan Thị Hồng Nhung", "Trịnh Văn Hùng", "Lương Văn Tùng", "Nguyễn Thị Thanh Hương", "Bùi Quang Huy"]),
]

# (email, full name, role, title, phone)
LIBRARIANS = [
    (DEMO_ADMIN_EMAIL, "Phạm Thị Hương", "admin", "Phó Giám đốc Trung tâm Thông tin – Thư viện", "024 3858 0001"),
    ("tuan.dm@demo.edu.vn", "Đỗ Minh Tuấn", "librarian", "Cán bộ thư viện phụ trách khoa", "024 3858 0002"),
    ("mai.vt@demo.edu.vn", "Vũ Thị Mai", "librarian", "Cán bộ thư viện phụ trách khoa", "024 3858 0003"),
]

# (librarian email, unit code or None, group code or None, role); Khoa Xã hội học has no liaison yet.
ASSIGNMENTS = [
    (DEMO_ADMIN_EMAIL, "TTTV", None, "primary"),
    (DEMO_ADMIN_EMAIL, "CNTT", None, "backup"),
    (DEMO_ADMIN_EMAIL, None, "NCTVS", "primary"),
    ("tuan.dm@demo.edu.vn", "CNTT", None, "primary"),
    ("tuan.dm@demo.edu.vn", "KT", None, "primary"),
    ("tuan.dm@demo.edu.vn", None, "K66-KHMT", "primary"),
    ("tuan.dm@demo.edu.vn", None, "NCXLNN", "primary"),
    ("mai.vt@demo.edu.vn", "NV", None, "primary"),
    ("mai.vt@demo.edu.vn", "LS", None, "primary"),
    ("mai.vt@demo.edu.vn", "KT", None, "backup"),
    ("mai.vt@demo.edu.vn", "TTTV", None, "backup"),
    ("mai.vt@demo.edu.vn", None, "K65-TTTV", "primary"),
    ("mai.vt@demo.edu.vn", None, "K67-NV", "primary"),
]

# (owner: contact full name or group code, name, topics, keywords, subject headings, class ranges, languages)
PROFILES = [
    ("Trần Thị Lan", "Thư viện số và số hóa tài liệu", "Xây dựng bộ sưu tập số, số hóa tài liệu cổ, siêu dữ liệu.",
     ["thư viện số", "số hóa", "siêu dữ liệu", "Dublin Core"], ["Thư viện số -- Việt Nam", "Số hóa tài liệu"],
     ["025-025.99", "027.7"], ["vie", "eng"]),
    ("Lê Hoàng Minh", "Dữ liệu nghiên cứu và khoa học mở", "Quản lý dữ liệu nghiên cứu, truy cập mở, kho lưu trữ mở.",
     ["dữ liệu nghiên cứu", "khoa học mở", "truy cập mở"], ["Truy cập mở -- Xuất bản khoa học"],
     ["001.4-001.49", "025.04"], ["eng", "vie"]),
    ("Bùi Thị Thu Trang", "Học máy và khai phá dữ liệu", "Học máy, học sâu và ứng dụng khai phá dữ liệu.",
     ["học máy", "khai phá dữ liệu", "machine learning", "data mining"], ["Học máy", "Khai phá dữ liệu"],
     ["006.3", "QA76-QA76.99"], ["eng", "vie"]),
    ("Phan Thị Hồng Nhung", "Xử lý ngôn ngữ tự nhiên tiếng Việt", "Kho ngữ liệu, mô hình ngôn ngữ, dịch máy.",
     ["xử lý ngôn ngữ tự nhiên", "tiếng Việt", "natural language processing", "mô hình ngôn ngữ"],
     ["Xử lý ngôn ngữ tự nhiên (Tin học)", "Tiếng Việt -- Xử lý dữ liệu"], ["006.35", "P98-P98.5"], ["vie", "eng"]),
    ("Nguyễn Thị Thanh Hương", "Ngôn ngữ học tiếng Việt", "Ngữ pháp, ngữ âm và từ vựng tiếng Việt.",
     ["ngữ pháp tiếng Việt", "ngữ âm học", "từ vựng học"], ["Tiếng Việt -- Ngữ pháp"],
     ["495.92-495.9299"], ["vie"]),
    ("Tô Thị Hạnh", "Lịch sử Việt Nam cận đại", "Việt Nam thời Nguyễn và thời kỳ thuộc địa.",
     ["lịch sử cận đại", "triều Nguyễn"], ["Việt Nam -- Lịch sử -- 1858-1945"],
     ["959.703-959.7039", "DS556-DS556.8"], ["vie", "fre"]),
    ("Dương Thị Mỹ Linh", "Kinh tế phát triển", "Tăng trưởng, giảm nghèo và chính sách phát triển.",
     ["kinh tế phát triển", "giảm nghèo", "tăng trưởng kinh tế"], ["Kinh tế phát triển -- Việt Nam"],
     ["338.9-338.99", "HD72-HD88"], ["vie", "eng"]),
    ("Quách Văn Sơn", "Khảo cổ học Việt Nam", "Văn hóa Đông Sơn, khảo cổ học tiền sử và sơ sử.",
     ["khảo cổ học", "văn hóa Đông Sơn"], ["Khảo cổ học -- Việt Nam"], ["930.1", "959.701"], ["vie", "eng"]),
    ("NCTVS", "Thư viện số – tài liệu mới cho nhóm", "Tài liệu mới về thư viện số, bảo quản số, kho lưu trữ mở.",
     ["thư viện số", "bảo quản số", "kho lưu trữ mở"], ["Thư viện số -- Việt Nam"], ["025-025.99"], ["vie", "eng"]),
    ("K66-KHMT", "Giáo trình Khoa học Máy tính", "Giáo trình và tài liệu tham khảo các học phần cơ sở ngành.",
     ["cấu trúc dữ liệu", "giải thuật", "lập trình Python"], [], ["005-005.99", "QA76-QA76.99"], ["vie", "eng"]),
    ("K65-TTTV", "Tài liệu ngành Thông tin – Thư viện", "Biên mục, phân loại và chuẩn nghiệp vụ thư viện.",
     ["biên mục", "phân loại DDC", "MARC 21"], ["Biên mục -- Tiêu chuẩn"], ["025.3-025.49"], ["vie"]),
]

# (librarian email, days from today, kind, subject, notes, outcome, contacts, groups,
#  follow-up in days from today or None, follow-up note, follow-up done)
INTERACTIONS = [
    (DEMO_ADMIN_EMAIL, -20, "meeting", "Trao đổi về nhu cầu tài liệu năm học mới với Khoa Thông tin – Thư viện",
     "Gặp Trưởng khoa và Trưởng bộ môn Thư viện số tại văn phòng khoa.",
     "Khoa sẽ gửi danh mục tài liệu tham khảo của 5 học phần để lập kế hoạch bổ sung.",
     ["Nguyễn Văn An", "Trần Thị Lan"], [], 2, "Nhận danh mục tài liệu tham khảo và lập kế hoạch bổ sung", False),
    (DEMO_ADMIN_EMAIL, -6, "consultation", "Tư vấn công bố dữ liệu nghiên cứu trên kho lưu trữ mở",
     "Thầy Minh cần nộp bộ dữ liệu kèm bài báo gửi tạp chí quốc tế.", None,
     ["Lê Hoàng Minh"], [], 5, "Gửi hướng dẫn nộp dữ liệu và mẫu kế hoạch quản lý dữ liệu", False),
    (DEMO_ADMIN_EMAIL, -10, "training", "Tập huấn sử dụng cơ sở dữ liệu",
     "Hướng dẫn tìm tin trên ScienceDirect và Scopus, quản lý tài liệu tham khảo với Zotero.",
     "32 sinh viên và 4 thành viên nhóm nghiên cứu tham dự; phiếu khảo sát: 92% hài lòng.",
     [], ["K65-TTTV", "NCTVS"], 1, "Gửi tài liệu hướng dẫn và đường dẫn đăng ký truy cập từ xa", False),
    (DEMO_ADMIN_EMAIL, -30, "email", "Đề nghị Khoa gửi đề xuất bổ sung giáo trình",
     "Gửi thư mời các bộ môn đề xuất giáo trình cho học kỳ tới.", None,
     ["Đặng Quốc Bảo"], [], -3, "Nhắc Khoa gửi đề xuất bổ sung giáo trình", False),
    ("tuan.dm@demo.edu.vn", -14, "meeting", "Giới thiệu dịch vụ thư mục tài liệu mới với Khoa Công nghệ Thông tin",
     "Giới thiệu bản tin tài liệu mới theo chuyên ngành và hồ sơ quan tâm.",
     "Khoa đồng ý thử nghiệm với Bộ môn Khoa học Máy tính.",
     ["Vũ Đức Thắng", "Bùi Thị Thu Trang"], [], 3, "Gửi bản tin thư mục tài liệu mới về học máy", False),
    ("tuan.dm@demo.edu.vn", -4, "consultation", "Hỗ trợ tìm tài liệu cho khóa luận tốt nghiệp",
     "Sinh viên làm khóa luận về nhận dạng tiếng nói tiếng Việt.", "Đã gửi danh mục 15 tài liệu tham khảo.",
     ["Bùi Quang Huy"], ["K66-KHMT"], -1, "Kiểm tra sinh viên đã truy cập được tài liệu", True),
    ("tuan.dm@demo.edu.vn", -40, "training", "Tập huấn sử dụng cơ sở dữ liệu IEEE Xplore",
     "Buổi hướng dẫn cho sinh viên K66 tại phòng máy của thư viện.", None,
     [], ["K66-KHMT"], None, None, False),
    ("mai.vt@demo.edu.vn", -25, "event", "Buổi nói chuyện chuyên đề: Tài nguyên số cho nghiên cứu Lịch sử",
     "Giới thiệu bộ sưu tập số tài liệu Hán Nôm và báo chí thời Pháp thuộc.", None,
     ["Tô Thị Hạnh", "Cao Xuân Phúc"], [], None, None, False),
    ("mai.vt@demo.edu.vn", -2, "phone", "Trao đổi về phiếu yêu cầu tài liệu chưa đáp ứng",
     "Cô Phương cần giáo trình Văn học Việt Nam hiện đại cho lớp K67.", None,
     ["Mai Thị Phương"], ["K67-NV"], 4, "Báo lại kết quả tìm mua giáo trình Văn học Việt Nam hiện đại", False),
]


# Digest subscriptions: (owner: contact name or group code, frequency, weekday, month day, hour, language,
# max items, sections or None for all, days of holiday from today or None, group members who left its digest)
DIGESTS = [
    ("Trần Thị Lan", "weekly", 0, 1, 8, "vi", 30, None, None, []),
    ("Lê Hoàng Minh", "daily", 0, 1, 7, "en", 20, ["acquisitions", "articles"], None, []),
    ("Phan Thị Hồng Nhung", "monthly", 0, 1, 8, "vi", 50, None, None, []),
    ("Nguyễn Thị Thanh Hương", "weekly", 4, 1, 16, "vi", 30, None, 14, []),
    ("Tô Thị Hạnh", "paused", 0, 1, 8, "vi", 30, None, None, []),
    ("NCTVS", "weekly", 2, 1, 9, "vi", 40, None, None, ["Phạm Minh Đức"]),
]


async def _demo_digests(session: AsyncSession, people: dict, groups: dict, today: date) -> None:
    """A few lecturers and a research group subscribed to digests, one member having left the group's."""
    from datetime import UTC, datetime

    from crm.digests.models import SECTIONS, OptOut, Subscription
    from crm.digests.schedule import next_due

    left = []
    for owner, frequency, weekday, month_day, hour, language, max_items, sections, holiday, leavers in DIGESTS:
        subscription = Subscription(frequency=frequency, weekday=weekday, month_day=month_day, hour=hour,
                                    language=language, max_items=max_items, sections=sections or list(SECTIONS),
                                    paused_until=today + timedelta(days=holiday) if holiday else None)
        if owner in groups:
            subscription.group = groups[owner]
        else:
            subscription.contact = people[owner]
        subscription.next_due_at = next_due(subscription, datetime.now(UTC))
        session.add(subscription)
        left += [(subscription, people[name]) for name in leavers]
    await session.flush()
    session.add_all([OptOut(subscription_id=s.id, contact_id=c.id) for s, c in left])


@dataclass(frozen=True)
class DemoCounts:
    units: int
    contacts: int
    groups: int
    librarians: int
    assignments: int
    profiles: int
    interactions: int


def _email(full_name: str, taken: set[str]) -> str:
    """University-style address: given name + initials of the other names (Nguyễn Văn An → annv)."""
    parts = fold(full_name).split()
    local = parts[-1] + "".join(p[0] for p in parts[:-1])
    candidate, n = local, 1
    while candidate in taken:
        n += 1
        candidate = f"{local}{n}"
    taken.add(candidate)
    return f"{candidate}@{DOMAIN}"


def _contact(full_name: str, email: str, kind: str, unit: Unit, **extra: object) -> Contact:
    full_name = nfc(full_name) or full_name
    return Contact(full_name=full_name, email=email, email_key=email.lower(), kind=kind, unit=unit, language="vi",
                   **extra, **contact_keys(full_name, email))


def _n(values: list[str]) -> list[str]:
    return [nfc(v) or v for v in values]


async def build_demo(session: AsyncSession, today: date | None = None) -> DemoCounts:
    """Insert the demo university into ``session`` (the caller owns the transaction)."""
    today = today or date.today()
    start = date(today.year - 1, 9, 1)

    units: dict[str, Unit] = {}
    for code, name_vi, name_en, kind, parent in UNITS:
        unit = Unit(code=code, name_vi=nfc(name_vi), name_en=name_en, kind=kind,
                    parent=units[parent] if parent else None)
        unit.search_key = unit_search_key(unit)
        units[code] = unit

    taken: set[str] = set()
    people: dict[str, Contact] = {}
    for title, name, kind, unit_code, position in STAFF:
        people[name] = _contact(name, _email(name, taken), kind, units[unit_code],
                                academic_title=title, position=nfc(position))
    for number, name, unit_code in STUDENTS:
        people[name] = _contact(name, f"{number}@{DOMAIN}", "student", units[unit_code], position="Sinh viên")

    groups: dict[str, Group] = {}
    for code, name, kind, unit_code, description, members in GROUPS:
        groups[code] = Group(code=code, name=nfc(name), kind=kind, unit=units[unit_code],
                             description=nfc(description), search_key=group_key(nfc(name) or name, code),
                             members=[people[m] for m in members])

    librarians: dict[str, User] = {}
    for email, name, role, title, phone in LIBRARIANS:
        librarians[email] = User(email=email, full_name=nfc(name), role=role, title=nfc(title), phone=phone,
                                 language="vi", password_hash=hash_password(DEMO_PASSWORD))

    assignments = [
        LiaisonAssignment(librarian=librarians[email], unit=units[u] if u else None, group=groups[g] if g else None,
                          role=role, start_date=start)
        for email, u, g, role in ASSIGNMENTS
    ]
    # A handover: Khoa Lịch sử was Tuấn's until Mai took it over this year.
    assignments.append(LiaisonAssignment(librarian=librarians["tuan.dm@demo.edu.vn"], unit=units["LS"], role="primary",
                                         start_date=date(today.year - 3, 9, 1), end_date=start - timedelta(days=1),
                                         notes="Bàn giao cho Vũ Thị Mai."))

    profiles = []
    for owner, name, topics, keywords, headings, classes, languages in PROFILES:
        profile = InterestProfile(name=nfc(name), topics=nfc(topics), keywords=_n(keywords),
                                  subject_headings=_n(headings), class_ranges=classes, languages=languages,
                                  search_key=profile_key(nfc(name) or name, nfc(topics), _n(keywords)))
        if owner in groups:
            profile.group = groups[owner]
        else:
            profile.contact = people[owner]
        profiles.append(profile)

    interactions = []
    for email, days, kind, subject, notes, outcome, contacts, group_codes, follow, follow_note, done in INTERACTIONS:
        interactions.append(Interaction(
            librarian=librarians[email], occurred_on=today + timedelta(days=days), kind=kind, subject=nfc(subject),
            notes=nfc(notes), outcome=nfc(outcome),
            follow_up_on=today + timedelta(days=follow) if follow is not None else None,
            follow_up_note=nfc(follow_note), follow_up_done=done,
            contacts=[people[c] for c in contacts], groups=[groups[g] for g in group_codes],
        ))

    session.add_all([*units.values(), *people.values(), *groups.values(), *librarians.values(),
                     *assignments, *profiles, *interactions])
    await session.flush()
    await _demo_digests(session, people, groups, today)
    from crm.questions.demo import add_demo_questions  # students' questions: triage, relayed, answered, declined
    await add_demo_questions(session, people, groups, librarians, today)
    return DemoCounts(units=len(units), contacts=len(people), groups=len(groups), librarians=len(librarians),
                      assignments=len(assignments), profiles=len(profiles), interactions=len(interactions))


#: 24 new acquisitions (Vietnamese and English, MARC21 with Koha 952 holdings) for the item browser.
DEMO_MARC = Path(__file__).resolve().parent / "demo_data" / "sach-moi.mrc"


async def load_demo_items(session_maker: async_sessionmaker) -> None:
    """A demo MARC source owned by the first librarian, imported like any other file."""
    from crm.sources.ingest import ingest
    from crm.sources.models import Source
    from crm.sources.readers.marc import iter_marc

    async with session_maker() as session, session.begin():
        owner = await session.scalar(select(User.id).where(User.role == "librarian").order_by(User.id).limit(1))
        source = Source(name="Sách mới – Trung tâm Thông tin – Thư viện (dữ liệu mẫu)", kind="marc",
                        path=str(DEMO_MARC), interval_minutes=None, owner_id=owner)
        session.add(source)
        await session.flush()
        source_id = source.id
    with DEMO_MARC.open("rb") as stream:
        await ingest(session_maker, source_id, iter_marc(stream), origin=DEMO_MARC.name)


async def load_demo_if_empty(settings: Settings) -> bool:
    """Load the demo data when the database has no account yet; True when it was loaded."""
    engine = db.create_engine(settings)
    try:
        if await db.pending_migrations(engine, settings):
            raise SystemExit("The database is not migrated. Run `crm migrate` first, then `crm demo`.")
        makers = db.session_maker(engine)
        async with makers() as session, session.begin():
            if await session.scalar(select(func.count()).select_from(User)):
                return False
            await build_demo(session)
        await load_demo_items(makers)
        await __import__("crm.acquisitions.demo", fromlist=["x"]).load_demo_acquisitions(makers, settings)
        return True
    finally:
        await engine.dispose()
