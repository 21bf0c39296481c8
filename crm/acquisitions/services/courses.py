"""Courses: code, name, term, lecturers (contacts), student groups, unit, and how many students they concern."""

import msgspec
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm.acquisitions import schemas
from crm.acquisitions.models import Citation, Course
from crm.errors import Conflict, FieldErrors
from crm.forms import cleaned
from crm.i18n import _
from crm.liaison.ids import storable
from crm.liaison.models import Contact, Group, Unit, group_member
from crm.pagination import Page, paginate
from crm.sources.models import Item
from crm.text import fold

MAX_PEOPLE = 200


def course_key(code: str, name: str, term: str | None) -> str:
    return fold(f"{code} {name} {term or ''}")[:600]


def item_ref(item: Item | None) -> schemas.ItemRef | None:
    if item is None:
        return None
    return schemas.ItemRef(id=item.id, title=item.title, authors=list(item.authors or []), year=item.year,
                           call_number=item.ddc or item.lcc)


async def student_counts(session: AsyncSession, courses: list[Course]) -> dict[int, int]:
    """Students each course concerns: its enrolment when given, else the members of its groups."""
    group_ids = {g.id for c in courses for g in c.groups}
    members: dict[int, int] = {}
    if group_ids:
        rows = await session.execute(select(group_member.c.group_id, func.count()).where(
            group_member.c.group_id.in_(group_ids)).group_by(group_member.c.group_id))
        members = dict(rows.all())
    return {c.id: c.enrolment if c.enrolment is not None else sum(members.get(g.id, 0) for g in c.groups)
            for c in courses}


def to_schema(course: Course, students: int) -> schemas.Course:
    unit = schemas.Ref(id=course.unit.id, name=course.unit.name_vi) if course.unit else None
    return schemas.Course(
        id=course.id, code=course.code, name=course.name, term=course.term, unit=unit, enrolment=course.enrolment,
        students=students, notes=course.notes,
        lecturers=[schemas.Ref(id=c.id, name=c.full_name) for c in course.lecturers],
        groups=[schemas.Ref(id=g.id, name=g.name) for g in course.groups],
    )


class CourseService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, course_id: int) -> Course | None:
        return await self.session.get(Course, course_id) if storable(course_id) else None

    async def by_code(self, code: str) -> Course | None:
        return await self.session.scalar(select(Course).where(func.lower(Course.code) == code.strip().lower()))

    async def list_courses(self, q: str | None = None, unit_id: int | None = None, contact_id: int | None = None,
                           page: int | None = 1, per_page: int | None = None) -> Page[Course]:
        query = select(Course).order_by(Course.code)
        for term in fold(q).split():
            query = query.where(Course.search_key.contains(term, autoescape=True))
        if unit_id is not None:
            query = query.where(Course.unit_id == unit_id)
        if contact_id is not None:
            query = query.where(Course.lecturers.any(Contact.id == contact_id))
        return await paginate(self.session, query, page, per_page)

    async def courses_of(self, contact_id: int) -> list[Course]:
        """The courses a lecturer teaches (for their suggestion page)."""
        return list(await self.session.scalars(
            select(Course).where(Course.lecturers.any(Contact.id == contact_id)).order_by(Course.code)))

    async def citation_counts(self, course_ids: list[int]) -> dict[int, dict[str, int]]:
        """course id → {status: count} of its reading list."""
        out: dict[int, dict[str, int]] = {i: {} for i in course_ids}
        if course_ids:
            rows = await self.session.execute(
                select(Citation.course_id, Citation.status, func.count()).where(Citation.course_id.in_(course_ids))
                .group_by(Citation.course_id, Citation.status))
            for course_id, status, count in rows.all():
                out[course_id][status] = count
        return out

    async def _related(self, values: dict, errors: dict[str, str]) -> dict:
        related: dict = {}
        if values.get("unit_id") is not None:
            related["unit"] = await self.session.get(Unit, values["unit_id"]) if storable(values["unit_id"]) else None
            if related["unit"] is None:
                errors["unit_id"] = _("Unknown unit.")
        elif "unit_id" in values:
            related["unit"] = None
        for name, model, field in (("lecturers", Contact, "lecturer_ids"), ("groups", Group, "group_ids")):
            if field not in values:
                continue
            ids = list(dict.fromkeys(i for i in values[field] or []))
            if len(ids) > MAX_PEOPLE:
                errors[field] = _("At most %(n)s values.", n=MAX_PEOPLE)
                continue
            found = list(await self.session.scalars(select(model).where(model.id.in_([i for i in ids if storable(i)]))))
            if len(found) != len(ids):
                errors[field] = _("Unknown contact.") if model is Contact else _("Unknown group.")
            related[name] = found
        return related

    async def _save(self, course: Course, values: dict) -> Course:
        errors: dict[str, str] = {}
        if "code" in values and not values["code"]:
            errors["code"] = _("This field is required.")
        if "name" in values and not values["name"]:
            errors["name"] = _("This field is required.")
        related = await self._related(values, errors)
        if values.get("code"):
            other = await self.by_code(values["code"])
            if other is not None and other.id != course.id:
                raise Conflict({"code": _("Another course has this code.")})
        if errors:
            raise FieldErrors(errors)
        for key, value in values.items():
            if key not in ("unit_id", "lecturer_ids", "group_ids"):
                setattr(course, key, value)
        for key, value in related.items():
            setattr(course, key, value)
        course.search_key = course_key(course.code, course.name, course.term)
        self.session.add(course)
        try:
            async with self.session.begin_nested():
                await self.session.flush()
        except IntegrityError:
            raise Conflict({"code": _("Another course has this code.")}) from None
        return course

    async def create_course(self, data: schemas.CourseCreate) -> Course:
        return await self._save(Course(), cleaned(data) | {"lecturer_ids": data.lecturer_ids, "group_ids": data.group_ids})

    async def update_course(self, course: Course, data: schemas.CourseUpdate) -> Course:
        values = cleaned(data)
        for field in ("lecturer_ids", "group_ids"):
            if getattr(data, field) is not msgspec.UNSET:
                values[field] = getattr(data, field)
        return await self._save(course, values)

    async def delete_course(self, course: Course) -> None:
        await self.session.delete(course)
        await self.session.flush()
