"""CSV import and export of units and contacts.

Export streams UTF-8 with a BOM (Excel then shows Vietnamese correctly). Import accepts what
Excel writes (see :mod:`crm.liaison.services.csv_table`), English or Vietnamese headers, and is
all-or-nothing: every row is checked first, with the same schemas and rules as the forms, and
rows are only added to the session once all of them are valid. No SAVEPOINT: with SQLite's
driver, releasing the outermost savepoint commits, which would defeat the purpose.
"""

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crm.errors import FieldErrors
from crm.forms import cleaned, validate
from crm.i18n import _, language
from crm.liaison import labels
from crm.liaison.models import Contact, Unit
from crm.liaison.schemas.contacts import ContactCreate
from crm.liaison.schemas.units import UnitCreate
from crm.liaison.services.contacts import ContactFilter, ContactService, email_key
from crm.liaison.services.csv_table import (
    EXPORT_CHUNK_ROWS, MAX_IMPORT_BYTES, MAX_REPORTED_ERRORS, BadFile, ImportResult, RowError, Table, failed,
    read_table, write_csv,
)
from crm.liaison.services.units import UnitService, search_key as unit_search_key
from crm.text import fold

__all__ = ["MAX_IMPORT_BYTES", "ImportResult", "RowError", "export_contacts", "export_units",
           "import_contacts", "import_units", "UNIT_HEADERS", "CONTACT_HEADERS"]

#: Accepted headers per column: the exported name first, then English and Vietnamese labels.
UNIT_HEADERS: dict[str, tuple[str, ...]] = {
    "code": ("code", "Mã đơn vị", "Mã"),
    "name_vi": ("name_vi", "Name in Vietnamese", "Tên tiếng Việt", "Tên đơn vị"),
    "name_en": ("name_en", "Name in English", "Tên tiếng Anh"),
    "kind": ("kind", "Type", "Loại"),
    "parent_code": ("parent_code", "Parent code", "Mã đơn vị cấp trên", "Thuộc đơn vị"),
}
CONTACT_HEADERS: dict[str, tuple[str, ...]] = {
    "full_name": ("full_name", "Full name", "Họ và tên", "Họ tên"),
    "email": ("email", "E-mail", "Thư điện tử"),
    "kind": ("kind", "Type", "Loại", "Đối tượng"),
    "unit_code": ("unit_code", "Unit code", "Mã đơn vị"),
    "academic_title": ("academic_title", "Academic title", "Học hàm, học vị", "Học vị"),
    "position": ("position", "Chức vụ"),
    "phone": ("phone", "Điện thoại", "Số điện thoại"),
    "language": ("language", "Ngôn ngữ"),
    "active": ("active", "Đang hoạt động", "Hoạt động"),
    "notes": ("notes", "Ghi chú"),
}
#: Column → schema field where they differ, and back.
CONTACT_COLUMN_FIELDS = {"active": "is_active", "unit_code": "unit_id"}
CONTACT_FIELD_COLUMNS = {f: c for c, f in CONTACT_COLUMN_FIELDS.items()}
#: Blank cells of these columns keep an existing record's value (new records get the default).
KEEP_WHEN_BLANK = {"kind", "language", "active"}
TRUE_WORDS = {"1", "true", "yes", "y", "x", "co", "dung", "active", "dang hoat dong"}
FALSE_WORDS = {"0", "false", "no", "n", "khong", "sai", "inactive", "ngung hoat dong"}
LANGUAGE_NAMES = {"tieng viet": "vi", "vietnamese": "vi", "tieng anh": "en", "english": "en"}


def choices(vocabulary: dict[str, str]) -> dict[str, str]:
    """Folded code or label in either language → code ("Giảng viên", "lecturer" → lecturer)."""
    names: dict[str, str] = {}
    for code, label in vocabulary.items():
        names[fold(code)] = code
        for lang in ("vi", "en"):
            with language(lang):
                names[fold(_(label))] = code
    return names


def _flag(value: str) -> str | None:
    word = fold(value)
    return "true" if word in TRUE_WORDS else "false" if word in FALSE_WORDS else None


def _row_errors(number: int, errors: dict[str, str], table: Table, columns: dict[str, str]) -> list[RowError]:
    """Field errors under the column names the user wrote."""
    out = []
    for name, message in errors.items():
        column = columns.get(name, name)
        out.append(RowError(number, table.headers.get(column, column) if name != "_" else None, message))
    return out


async def _flush(session: AsyncSession, result: ImportResult) -> ImportResult:
    """Write every row at once; if the database still refuses (a concurrent change), all goes."""
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        return failed([RowError(None, None, _("The data changed while importing; nothing was saved. Try again."))])
    return result


# --- contacts ---------------------------------------------------------------------------------


def _contact_values(cells: dict[str, str], units: dict[str, int], kinds: dict[str, str]) -> dict[str, Any]:
    """One row checked like the contact form; raises FieldErrors (keyed by schema field)."""
    # A form's missing checkbox means "no"; a missing or blank cell means the default (active).
    raw: dict[str, Any] = {"is_active": "true"}
    errors: dict[str, str] = {}
    for column, cell in cells.items():
        if column == "unit_code":
            raw["unit_id"] = units.get(cell.lower()) if cell else None
            if cell and raw["unit_id"] is None:
                errors["unit_id"] = _("Unknown unit code.")
        elif column == "active":
            raw["is_active"] = _flag(cell) if cell else "true"
            if raw["is_active"] is None:
                errors["is_active"] = _("Write 1 or 0 (yes or no).")
        elif column == "kind":
            raw["kind"] = kinds.get(fold(cell), cell) if cell else None
        elif column == "language":
            raw["language"] = LANGUAGE_NAMES.get(fold(cell), cell.lower()) if cell else None
        else:
            raw[column] = cell
    try:
        values = cleaned(validate(raw, ContactCreate))
    except FieldErrors as exc:
        raise FieldErrors({**exc.errors, **errors}) from None
    if errors:
        raise FieldErrors(errors)
    return values


async def import_contacts(session: AsyncSession, data: bytes) -> ImportResult:
    """Create or update contacts by email; nothing is written unless every row is valid."""
    try:
        table = read_table(data, CONTACT_HEADERS, required=("full_name", "email"))
    except BadFile as exc:
        return failed([RowError(None, None, str(exc))])
    if table.errors:
        return failed(table.errors)
    units = {code.lower(): uid for uid, code in (await session.execute(select(Unit.id, Unit.code))).all()}
    kinds = choices(labels.CONTACT_KINDS)
    errors = list(table.row_errors)
    seen: dict[str, int] = {}
    plan: list[tuple[dict, dict]] = []  # (all values, the values an existing contact takes)
    for number, cells in table.rows:
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
        try:
            values = _contact_values(cells, units, kinds)
        except FieldErrors as exc:
            errors.extend(_row_errors(number, exc.errors, table, CONTACT_FIELD_COLUMNS))
            continue
        key = email_key(values["email"])
        if key in seen:
            errors.append(RowError(number, table.headers["email"], _("This email also appears in row %(row)s.", row=seen[key])))
            continue
        seen[key] = number
        fields = [CONTACT_COLUMN_FIELDS.get(c, c) for c, cell in cells.items() if cell or c not in KEEP_WHEN_BLANK]
        plan.append((values, {name: values[name] for name in fields}))
    if errors:
        return failed(errors)
    service = ContactService(session)
    existing = await service.existing_by_email(seen)
    result = ImportResult()
    for values, changes in plan:
        contact = existing.get(email_key(values["email"]))
        if contact is None:
            contact = Contact()
            service.apply(contact, values)
            session.add(contact)
            result.created += 1
        else:
            service.apply(contact, changes)
            result.updated += 1
    return await _flush(session, result)


async def export_contacts(session: AsyncSession, filters: ContactFilter) -> AsyncIterator[str]:
    """The contacts a list shows with these filters, streamed from the database."""
    service = ContactService(session)
    query = service.export_query(await service.conditions(filters)).execution_options(yield_per=EXPORT_CHUNK_ROWS)
    rows = await session.stream(query)

    async def values() -> AsyncIterator[tuple]:
        async for row in rows:
            yield (*row[:8], "1" if row[8] else "0", row[9])

    async for chunk in write_csv(list(CONTACT_HEADERS), values()):
        yield chunk


# --- units ------------------------------------------------------------------------------------


def _cycles(rows: dict[str, tuple[int, dict, dict[str, str]]], parents: dict[str, str | None], table: Table) -> list[RowError]:
    """Rows whose unit would end up under itself, walking up the tree as it will be after the import."""
    errors = []
    for key, (number, _values, _cells) in rows.items():
        node, steps = parents.get(key), 0
        while node is not None and steps <= len(parents):
            if node == key:
                errors.append(RowError(number, table.headers.get("parent_code"),
                                       _("A unit cannot be placed under itself or one of its sub-units.")))
                break
            node, steps = parents.get(node), steps + 1
    return errors


async def import_units(session: AsyncSession, data: bytes) -> ImportResult:
    """Create or update units by code; a parent may be defined further down the file."""
    try:
        table = read_table(data, UNIT_HEADERS, required=("code", "name_vi"))
    except BadFile as exc:
        return failed([RowError(None, None, str(exc))])
    if table.errors:
        return failed(table.errors)
    stored = {u.code.lower(): u for u in await UnitService(session).list_units()}
    parents = {key: (u.parent.code.lower() if u.parent else None) for key, u in stored.items()}
    in_file = {cells["code"].lower() for _number, cells in table.rows}
    kinds = choices(labels.UNIT_KINDS)
    errors = list(table.row_errors)
    rows: dict[str, tuple[int, dict, dict[str, str]]] = {}
    for number, cells in table.rows:
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
        raw = {c: v for c, v in cells.items() if c != "parent_code"}
        if cells.get("kind"):
            raw["kind"] = kinds.get(fold(cells["kind"]), cells["kind"])
        try:
            values = cleaned(validate(raw, UnitCreate))
        except FieldErrors as exc:
            errors.extend(_row_errors(number, exc.errors, table, {}))
            continue
        key = values["code"].lower()
        if key in rows:
            errors.append(RowError(number, table.headers["code"], _("This code also appears in row %(row)s.", row=rows[key][0])))
            continue
        parent = cells.get("parent_code", "").lower()
        if parent and parent not in in_file and parent not in stored:
            errors.append(RowError(number, table.headers["parent_code"], _("Unknown unit code.")))
            continue
        rows[key] = (number, values, cells)
        if "parent_code" in cells:
            parents[key] = parent or None
    errors.extend(_cycles(rows, parents, table))
    if errors:
        return failed(errors)
    result = ImportResult()
    units = dict(stored)
    for key, (_number, values, cells) in rows.items():
        unit = stored.get(key)
        if unit is None:
            unit = units[key] = Unit(**{k: v for k, v in values.items() if k != "parent_id"})
            session.add(unit)
            result.created += 1
        else:
            # The code is the key: a different case in the file does not rename the unit.
            for name, value in values.items():
                if name in cells and name != "code" and not (name in KEEP_WHEN_BLANK and not cells[name]):
                    setattr(unit, name, value)
            result.updated += 1
        unit.search_key = unit_search_key(unit)
    for key, (_number, _values, cells) in rows.items():
        if "parent_code" in cells:
            parent = cells["parent_code"].lower()
            units[key].parent = units[parent] if parent else None
    return await _flush(session, result)


async def export_units(session: AsyncSession) -> AsyncIterator[str]:
    """Parents before children, so the file reads like the tree."""
    parent = aliased(Unit)
    codes = dict((await session.execute(select(Unit.id, parent.code).outerjoin(parent, Unit.parent_id == parent.id))).all())

    async def values() -> AsyncIterator[tuple]:
        for unit, _depth in await UnitService(session).tree():
            yield unit.code, unit.name_vi, unit.name_en, unit.kind, codes.get(unit.id)

    async for chunk in write_csv(list(UNIT_HEADERS), values()):
        yield chunk
