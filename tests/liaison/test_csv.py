"""CSV import and export of units and contacts: Excel's dialects, row-numbered errors, all or nothing."""

import asyncio
import os
import sys

from sqlalchemy import func, select

from crm.liaison.models import Contact, Unit
from crm.liaison.services.units import UnitService
from tests.conftest import bearer, csrf_from
from tests.liaison.people import make_contact

BOM = "\ufeff"
CSV = {"Content-Type": "text/csv"}


async def import_api(client, token: str, what: str, text: str | bytes):
    body = text.encode("utf-8") if isinstance(text, str) else text
    return await client.post(f"/api/{what}/import", content=body, headers={**bearer(token), **CSV})


async def contacts_by_email(factory) -> dict[str, Contact]:
    async with factory.session_maker() as s:
        return {c.email_key: c for c in (await s.scalars(select(Contact))).unique()}


async def counts(factory) -> tuple[int, int]:
    async with factory.session_maker() as s:
        return (await s.scalar(select(func.count()).select_from(Unit)), await s.scalar(select(func.count()).select_from(Contact)))


async def test_contact_import_with_bom_commas_and_english_headers(client, librarian_token, factory):
    await factory.unit(code="CNTT")
    text = BOM + ("full_name,email,kind,unit_code,academic_title,position,phone,language,active,notes\r\n"
                  "Nguyễn Văn An,an@vnu.edu.vn,lecturer,cntt,PGS.TS.,Trưởng bộ môn,0912 345 678,vi,1,\"Quan tâm: AI, NLP\"\r\n"
                  "Lê Thị Hoa,hoa@vnu.edu.vn,student,,,,,en,0,\r\n"
                  "Vũ Minh Khoa,khoa@vnu.edu.vn,,,,,,,,\r\n")
    r = await import_api(client, librarian_token, "contacts", text)
    assert r.status_code == 200, r.text
    assert r.json() == {"created": 3, "updated": 0, "errors": []}
    stored = await contacts_by_email(factory)
    an = stored["an@vnu.edu.vn"]
    assert (an.full_name, an.academic_title, an.notes, an.unit.code, an.is_active) == (
        "Nguyễn Văn An", "PGS.TS.", "Quan tâm: AI, NLP", "CNTT", True)
    hoa = stored["hoa@vnu.edu.vn"]
    assert (hoa.kind, hoa.language, hoa.is_active, hoa.unit_id) == ("student", "en", False, None)
    # Blank cells take the defaults.
    khoa = stored["khoa@vnu.edu.vn"]
    assert (khoa.kind, khoa.language, khoa.is_active, khoa.academic_title) == ("lecturer", "vi", True, None)
    # Imported contacts are searchable without diacritics.
    found = (await client.get("/api/contacts", params={"q": "nguyen van an"}, headers=bearer(librarian_token))).json()
    assert [c["email"] for c in found["items"]] == ["an@vnu.edu.vn"]


async def test_contact_import_with_semicolons_vietnamese_headers_and_update_by_email(client, librarian_token, factory):
    await factory.unit(code="SH", name_vi="Khoa Sinh học")
    existing = await make_contact(factory, "Trần Văn Bình", "binh@vnu.edu.vn", kind="researcher")
    text = ("Họ và tên;Email;Loại;Mã đơn vị;Học hàm, học vị;Chức vụ;Điện thoại;Ghi chú\n"
            "Trần Văn Bình;BINH@vnu.edu.vn;;SH;TS.;;;Đã cập nhật\n"
            "Đỗ Thị Dung;dung@vnu.edu.vn;Nghiên cứu viên;SH;;;;\n"
            ";;;;;;;\n"
            "Phạm Minh Đức;duc@vnu.edu.vn;sinh viên;;;;;\n")
    r = await import_api(client, librarian_token, "contacts", text)  # UTF-8 without BOM
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["updated"]) == (2, 1)
    stored = await contacts_by_email(factory)
    binh = stored["binh@vnu.edu.vn"]
    assert binh.id == existing.id
    # A blank type keeps the current one; the other columns are updated.
    assert (binh.kind, binh.academic_title, binh.notes, binh.unit.code) == ("researcher", "TS.", "Đã cập nhật", "SH")
    assert stored["dung@vnu.edu.vn"].kind == "researcher"
    assert stored["duc@vnu.edu.vn"].kind == "student" and stored["duc@vnu.edu.vn"].language == "vi"
    # Without an "active" column, new contacts are active.
    assert all(c.is_active for c in stored.values())


async def test_contact_import_errors_have_row_numbers_and_nothing_is_written(client, librarian_token, factory):
    await factory.unit(code="CNTT")
    existing = await make_contact(factory, "Trần Văn Bình", "binh@vnu.edu.vn")
    before = await counts(factory)
    text = ("full_name,email,kind,unit_code,active\n"
            "Nguyễn Văn An,an@vnu.edu.vn,lecturer,CNTT,1\n"      # row 2: valid
            "Trần Văn Bình Mới,binh@vnu.edu.vn,staff,,1\n"         # row 3: valid update
            "Lê Thị Hoa,khong-phai-email,lecturer,,1\n"            # row 4: bad email
            "Vũ Văn Khoa,khoa@vnu.edu.vn,lecturer,KHONG-CO,1\n"    # row 5: unknown unit
            "Nguyễn An,AN@vnu.edu.vn,lecturer,,1\n"                # row 6: same email as row 2
            f"{'x' * 201},dai@vnu.edu.vn,alien,,maybe\n"            # row 7: three problems
            "Quá nhiều,qua@vnu.edu.vn,lecturer,,1,thừa\n")         # row 8: too many values
    r = await import_api(client, librarian_token, "contacts", text)
    assert r.status_code == 400, r.text
    errors = [(e["row"], e["column"]) for e in r.json()["errors"]]
    assert errors == [(4, "email"), (5, "unit_code"), (6, "email"), (7, "full_name"), (7, "kind"), (7, "active"), (8, None)]
    assert "row 2" in r.json()["errors"][2]["message"] or "dòng 2" in r.json()["errors"][2]["message"]
    assert r.json()["errors"][0]["message"] == "Địa chỉ email không hợp lệ."
    # All or nothing: the valid rows were not written either.
    assert await counts(factory) == before
    assert (await contacts_by_email(factory))["binh@vnu.edu.vn"].full_name == existing.full_name


async def test_unit_import_parents_anywhere_vietnamese_headers_and_update(client, admin_token, factory):
    await factory.unit(code="DHQG", name_vi="Đại học Quốc gia", kind="university")
    text = ("Mã đơn vị;Tên tiếng Việt;Tên tiếng Anh;Loại;Mã đơn vị cấp trên\n"
            "KHMT;Bộ môn Khoa học máy tính;Computer Science;Bộ môn;CNTT\n"   # parent defined below
            "CNTT;Khoa Công nghệ Thông tin;;Khoa;DHQG\n"                     # parent in the database
            "dhqg;Đại học Quốc gia Hà Nội;VNU;university;\n")               # update, codes ignore case
    r = await import_api(client, admin_token, "units", text)
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["updated"]) == (2, 1)
    async with factory.session_maker() as s:
        tree = [(u.code, u.parent.code if u.parent else None, u.kind, depth) for u, depth in await UnitService(s).tree()]
        root = await UnitService(s).get_by_code("DHQG")
    assert tree == [("DHQG", None, "university", 0), ("CNTT", "DHQG", "faculty", 1), ("KHMT", "CNTT", "department", 2)]
    assert root.name_vi == "Đại học Quốc gia Hà Nội" and root.name_en == "VNU"


async def test_unit_import_errors_and_rollback(client, admin_token, factory):
    root = await factory.unit(code="DH", name_vi="Đại học", kind="university")
    await factory.unit(code="K1", name_vi="Khoa 1", parent_id=root.id)
    before = await counts(factory)
    text = ("code,name_vi,kind,parent_code\n"
            "NEW,Đơn vị mới,faculty,DH\n"        # row 2: valid
            "A,Vòng A,department,B\n"            # row 3: cycle A → B → A
            "B,Vòng B,department,A\n"            # row 4: cycle
            "DH,Đại học,university,K1\n"         # row 5: under its own sub-unit
            "X Y,Mã sai,department,\n"           # row 6: bad code
            "Z,Cha lạ,department,KHONG\n"        # row 7: unknown parent
            "new,Trùng,faculty,\n"               # row 8: duplicate code in the file
            "W,,galaxy,\n")                      # row 9: missing name, bad kind
    r = await import_api(client, admin_token, "units", text)
    assert r.status_code == 400, r.text
    errors = [(e["row"], e["column"]) for e in r.json()["errors"]]
    assert errors == [(3, "parent_code"), (4, "parent_code"), (5, "parent_code"), (6, "code"), (7, "parent_code"),
                      (8, "code"), (9, "name_vi"), (9, "kind")]
    assert await counts(factory) == before


async def test_malformed_files_get_a_clear_400(client, factory, admin_token):
    english = await factory.user(email="en@example.edu.vn", language="en")
    en_token = await factory.token(english)
    cases = [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00", "UTF-8"),
        ("full_name,email\nLê Hoa,hoa@x.vn\n".encode("cp1252"), "UTF-8"),
        (b"full_name,email\nA,a@x.vn\x00\n", "binary"),
        (b"", "empty"),
        (b"   \r\n", "empty"),
        (b"full_name,phone\nA,1\n", "email"),
        (b"full_name,email,colour\nA,a@x.vn,red\n", "colour"),
        (b"full_name,email,email\nA,a@x.vn,b@x.vn\n", "email"),
        (b'full_name,email\n"unterminated,a@x.vn\n' + b"x" * 200_000 + b"\n", "CSV"),
    ]
    for body, hint in cases:
        r = await client.post("/api/contacts/import", content=body, headers={**bearer(en_token), **CSV})
        assert r.status_code == 400, (body[:40], r.text)
        assert r.json()["errors"] and hint.lower() in r.text.lower(), (hint, r.text)
    r = await client.post("/api/units/import", content=b"code\nA\n", headers={**bearer(admin_token), **CSV})
    assert r.status_code == 400 and r.json()["errors"][0]["column"] == "name_vi"
    # A form sent without choosing a file (browsers send an empty part with no file name).
    r = await client.post("/api/contacts/import", files={"file": ("", b"")}, headers=bearer(en_token))
    assert r.status_code == 400 and "Choose a CSV file" in r.text


async def test_files_over_10_mb_are_refused(client, librarian_token):
    row = "Nguyễn Văn An,an@vnu.edu.vn,lecturer\n".encode()
    big = b"full_name,email,kind\n" + row * (10 * 1024 * 1024 // len(row) + 10)
    r = await client.post("/api/contacts/import", content=big, headers={**bearer(librarian_token), **CSV})
    assert r.status_code == 413 and "10 MB" in r.json()["detail"]
    r = await client.post("/api/contacts/import", files={"file": ("big.csv", big + b"x" * 200_000, "text/csv")},
                          headers=bearer(librarian_token))
    assert r.status_code == 413 and "10 MB" in r.json()["detail"]


async def test_export_is_utf8_with_bom_and_follows_the_filters(client, librarian_token, factory):
    unit = await factory.unit(code="CNTT")
    await make_contact(factory, "Nguyễn Văn An", "an@vnu.edu.vn", unit_id=unit.id)
    await make_contact(factory, "Đỗ Thị Dung", "dung@vnu.edu.vn", kind="student")
    r = await client.get("/api/contacts/export.csv", params={"kind": "lecturer"}, headers=bearer(librarian_token))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "full_name,email,kind,unit_code,academic_title,position,phone,language,active,notes"
    assert lines[1:] == ["Nguyễn Văn An,an@vnu.edu.vn,lecturer,CNTT,,,,vi,1,"]
    r = await client.get("/api/contacts/export.csv", params={"q": "dung"}, headers=bearer(librarian_token))
    assert r.text.splitlines()[1].startswith("Đỗ Thị Dung,")
    r = await client.get("/api/units/export.csv", headers=bearer(librarian_token))
    assert r.content.decode("utf-8-sig").splitlines() == ["code,name_vi,name_en,kind,parent_code",
                                                          "CNTT,Khoa Công nghệ Thông tin,,faculty,"]


async def test_export_then_import_into_an_empty_database_gives_the_same_data(client, admin_token, factory):
    h = bearer(admin_token)
    root = await factory.unit(code="DHQG", name_vi="Đại học Quốc gia", kind="university", name_en="VNU")
    faculty = await factory.unit(code="CNTT", name_vi="Khoa Công nghệ Thông tin", parent_id=root.id)
    await factory.unit(code="KHMT", name_vi="Bộ môn Khoa học máy tính", kind="department", parent_id=faculty.id)
    contacts = [
        {"full_name": "Nguyễn Văn An", "email": "An.Nguyen@vnu.edu.vn", "unit_id": faculty.id, "academic_title": "PGS.TS.",
         "position": "Trưởng khoa", "phone": "+84 912 345 678", "notes": "Dòng 1\nDòng 2, có dấu phẩy; và \"ngoặc\""},
        {"full_name": "Lê Thị Hoa", "email": "hoa@vnu.edu.vn", "kind": "student", "language": "en", "is_active": False,
         "notes": "=HYPERLINK(\"http://x\")"},
        {"full_name": "Đỗ Minh Đức", "email": "duc@vnu.edu.vn", "kind": "researcher"},
    ]
    for body in contacts:
        assert (await client.post("/api/contacts", json=body, headers=h)).status_code == 201
    units_csv = (await client.get("/api/units/export.csv", headers=h)).content
    contacts_csv = (await client.get("/api/contacts/export.csv", headers=h)).content
    # Spreadsheet formulas are neutralized in the file.
    assert "'=HYPERLINK" in contacts_csv.decode("utf-8-sig") and ",+84 912 345 678," in contacts_csv.decode("utf-8-sig")

    async with factory.session_maker() as s, s.begin():
        for contact in (await s.scalars(select(Contact))).unique():
            await s.delete(contact)
        for unit, _depth in reversed(await UnitService(s).tree()):
            await s.delete(unit)
            await s.flush()
    assert await counts(factory) == (0, 0)

    r = await import_api(client, admin_token, "units", units_csv)
    assert r.status_code == 200 and r.json()["created"] == 3, r.text
    r = await import_api(client, admin_token, "contacts", contacts_csv)
    assert r.status_code == 200 and r.json()["created"] == 3, r.text
    assert (await client.get("/api/units/export.csv", headers=h)).content == units_csv
    assert (await client.get("/api/contacts/export.csv", headers=h)).content == contacts_csv
    hoa = (await contacts_by_email(factory))["hoa@vnu.edu.vn"]
    assert hoa.notes == "=HYPERLINK(\"http://x\")" and hoa.is_active is False


async def test_import_and_export_pages(client, librarian, factory):
    await factory.unit(code="CNTT")
    page = await client.get("/contacts/import")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text and "Họ và tên" in page.text
    token = csrf_from(page.text)
    data = "Họ và tên,Email,Mã đơn vị\nNguyễn Văn An,an@vnu.edu.vn,CNTT\n".encode()
    r = await client.post("/contacts/import", data={"_csrf_token": token},
                          files={"file": ("danh-sach.csv", data, "text/csv")})
    assert r.status_code == 200 and "1 mới" in r.text, r.text
    r = await client.post("/contacts/import", data={"_csrf_token": token},
                          files={"file": ("sai.csv", "Họ và tên,Email\nAn,sai\n".encode(), "text/csv")})
    assert r.status_code == 400 and "Địa chỉ email không hợp lệ" in r.text and "<td>2</td>" in r.text
    # Too large, whether Litestar stops reading (over the envelope) or the import checks the size.
    for size in (10 * 1024 * 1024 + 1, 11 * 1024 * 1024):
        r = await client.post("/contacts/import", data={"_csrf_token": token},
                              files={"file": ("lon.csv", b"full_name,email\n" + b"x" * size, "text/csv")})
        assert r.status_code == 413 and "10 MB" in r.text, size
    # Without the CSRF token the upload is refused.
    r = await client.post("/contacts/import", files={"file": ("a.csv", data, "text/csv")})
    assert r.status_code == 403

    r = await client.get("/contacts/export.csv", params={"q": "nguyen"})
    assert r.status_code == 200 and "Nguyễn Văn An" in r.content.decode("utf-8-sig")
    assert (await client.get("/units/export.csv")).status_code == 200
    # Units are for administrators to import.
    assert (await client.get("/units/import")).status_code == 403
    r = await client.post("/units/import", data={"_csrf_token": token}, files={"file": ("u.csv", b"code,name_vi\nA,A\n")})
    assert r.status_code == 403


async def test_unit_import_page_for_admins(client, admin):
    page = await client.get("/units/import")
    assert page.status_code == 200
    r = await client.post("/units/import", data={"_csrf_token": csrf_from(page.text)},
                          files={"file": ("u.csv", "code;name_vi\nNV;Khoa Ngữ văn\n".encode(), "text/csv")})
    assert r.status_code == 200 and "1 mới" in r.text
    assert "Khoa Ngữ văn" in (await client.get("/units")).text


async def test_csv_permissions(client, factory, librarian_token):
    assert (await client.get("/api/contacts/export.csv")).status_code == 401
    assert (await client.post("/api/contacts/import", content=b"full_name,email\n", headers=CSV)).status_code == 401
    r = await client.get("/contacts/import", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    r = await import_api(client, librarian_token, "units", "code,name_vi\nA,A\n")
    assert r.status_code == 403


async def test_cli_import_reports_rows_and_exits_non_zero(settings, tmp_path, factory):
    good = tmp_path / "good.csv"
    good.write_text("Họ và tên;Email\nNguyễn Văn An;an@vnu.edu.vn\n", encoding="utf-8-sig")
    bad = tmp_path / "bad.csv"
    bad.write_text("full_name,email\nA,a@x.vn\nB,not-an-email\n", encoding="utf-8")
    env = {**os.environ, "CRM_DATABASE_URL": settings.database.url, "CRM_VAR_DIR": str(tmp_path),
           "CRM_SECRET_KEY": settings.secret_key}

    async def crm(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "crm.cli", *args, env=env,
                                                       stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate()
        return process.returncode, out.decode(), err.decode()

    code, out, err = await crm("import", "contacts", str(good))
    assert code == 0 and "1 mới" in out, err
    code, out, err = await crm("import", "contacts", "--language", "en", str(bad))
    assert code == 1 and "row 3 [email]" in err and "Not a valid email address." in err
    assert set(await contacts_by_email(factory)) == {"an@vnu.edu.vn"}


async def test_the_service_writes_nothing_when_a_row_fails_even_if_the_caller_commits(factory):
    """All or nothing does not lean on the web request's rollback: a job or the CLI commits."""
    from crm.liaison.services.csv_io import import_contacts, import_units

    before = await counts(factory)
    async with factory.session_maker() as s:
        result = await import_units(s, "code,name_vi,parent_code\nA,Đơn vị A,\nB,Đơn vị B,KHONG\n".encode())
        assert [(e.row, e.column) for e in result.errors] == [(3, "parent_code")]
        result = await import_contacts(s, "full_name,email\nAn,an@x.vn\nBình,binh@\n".encode())
        assert [(e.row, e.column) for e in result.errors] == [(3, "email")]
        await s.commit()
    assert await counts(factory) == before


async def test_blank_type_language_or_active_keep_an_existing_contacts_values(client, librarian_token, factory):
    binh = await make_contact(factory, "Trần Văn Bình", "binh@vnu.edu.vn", kind="researcher")
    async with factory.session_maker() as s, s.begin():
        stored = await s.get(Contact, binh.id)
        stored.is_active, stored.language, stored.phone = False, "en", "0912 000 000"
    text = "full_name,email,kind,language,active,phone\nTrần Văn Bình,binh@vnu.edu.vn,,,,\n"
    r = await import_api(client, librarian_token, "contacts", text)
    assert r.status_code == 200 and r.json()["updated"] == 1, r.text
    after = (await contacts_by_email(factory))["binh@vnu.edu.vn"]
    # Kept: type, language, active. Cleared: the optional phone.
    assert (after.kind, after.language, after.is_active, after.phone) == ("researcher", "en", False, None)
