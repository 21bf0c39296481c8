"""Liaison assignments: which librarian serves which unit or group, as primary or backup, when."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import FieldErrors
from crm.forms import cleaned
from crm.i18n import _, current_language
from crm.liaison.ids import storable
from crm.liaison.models import Group, LiaisonAssignment, Unit
from crm.liaison.schemas import assignments as schemas
from crm.liaison.services.interactions import group_label
from crm.security.models import User


def current_on(today: date) -> ColumnElement[bool]:
    """Started, and not ended before ``today`` (an open end means still serving)."""
    return (LiaisonAssignment.start_date <= today) & (
        LiaisonAssignment.end_date.is_(None) | (LiaisonAssignment.end_date >= today)
    )


@dataclass
class AssignmentFilter:
    librarian_id: int | None = None
    unit_id: int | None = None
    group_id: int | None = None
    current_only: bool = False


class AssignmentService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def for_unit(self, unit_id: int, today: date | None = None) -> list[LiaisonAssignment]:
        """Current assignments of a unit, primary first."""
        today = today or date.today()
        query = (
            select(LiaisonAssignment)
            .where(LiaisonAssignment.unit_id == unit_id, current_on(today))
            .order_by(LiaisonAssignment.role.desc(), LiaisonAssignment.start_date)
        )
        return list(await self.session.scalars(query))

    async def for_group(self, group_id: int, today: date | None = None) -> list[LiaisonAssignment]:
        """Current assignments of a group, primary first."""
        today = today or date.today()
        query = (
            select(LiaisonAssignment)
            .where(LiaisonAssignment.group_id == group_id, current_on(today))
            .order_by(LiaisonAssignment.role.desc(), LiaisonAssignment.start_date)
        )
        return list(await self.session.scalars(query))

    async def current_for_librarian(self, librarian_id: int, today: date | None = None) -> list[LiaisonAssignment]:
        today = today or date.today()
        query = (
            select(LiaisonAssignment)
            .where(LiaisonAssignment.librarian_id == librarian_id, current_on(today))
            .order_by(LiaisonAssignment.role.desc(), LiaisonAssignment.start_date, LiaisonAssignment.id)
        )
        return list(await self.session.scalars(query))

    async def get(self, assignment_id: int) -> LiaisonAssignment | None:
        return await self._get(LiaisonAssignment, assignment_id)

    async def _get(self, model: type, object_id: int | None):
        return await self.session.get(model, object_id) if storable(object_id) else None

    def _filtered(self, f: AssignmentFilter, today: date) -> Select:
        query = select(LiaisonAssignment)
        if f.librarian_id is not None:
            query = query.where(LiaisonAssignment.librarian_id == f.librarian_id)
        if f.unit_id is not None:
            query = query.where(LiaisonAssignment.unit_id == f.unit_id)
        if f.group_id is not None:
            query = query.where(LiaisonAssignment.group_id == f.group_id)
        if f.current_only:
            query = query.where(current_on(today))
        return query

    async def list_assignments(self, filters: AssignmentFilter, today: date | None = None) -> list[LiaisonAssignment]:
        query = self._filtered(filters, today or date.today()).order_by(
            LiaisonAssignment.start_date.desc(), LiaisonAssignment.id.desc())
        return list(await self.session.scalars(query))

    async def current_unit_ids(self, today: date | None = None) -> set[int]:
        query = select(LiaisonAssignment.unit_id).where(LiaisonAssignment.unit_id.is_not(None), current_on(today or date.today()))
        return set(await self.session.scalars(query))

    async def _check(self, values: dict, item: LiaisonAssignment | None = None) -> dict:
        """Validate the merged values; returns the related objects to set."""
        merged = {k: values.get(k, getattr(item, k, None)) for k in ("librarian_id", "unit_id", "group_id", "start_date", "end_date")}
        errors: dict[str, str] = {}
        related: dict = {}
        if "librarian_id" in values:
            related["librarian"] = await self._get(User, merged["librarian_id"])
            if related["librarian"] is None:
                errors["librarian_id"] = _("Unknown librarian.")
        if merged["unit_id"] is None and merged["group_id"] is None:
            errors["unit_id"] = _("Choose the unit or the group this librarian serves.")
        elif merged["unit_id"] is not None and merged["group_id"] is not None:
            errors["unit_id"] = _("An assignment is for one unit or one group, not both.")
        if "unit_id" in values:
            related["unit"] = await self._get(Unit, values["unit_id"])
            if values["unit_id"] is not None and related["unit"] is None:
                errors["unit_id"] = _("Unknown unit.")
        if "group_id" in values:
            related["group"] = await self._get(Group, values["group_id"])
            if values["group_id"] is not None and related["group"] is None:
                errors["group_id"] = _("Unknown group.")
        if merged["end_date"] is not None and merged["start_date"] is not None and merged["end_date"] < merged["start_date"]:
            errors["end_date"] = _("The end date cannot be before the start date.")
        if errors:
            raise FieldErrors(errors)
        return related

    async def create_assignment(self, data: schemas.AssignmentCreate, today: date | None = None) -> LiaisonAssignment:
        values = cleaned(data)
        if values.get("start_date") is None:
            values["start_date"] = today or date.today()
        related = await self._check(values)
        assignment = LiaisonAssignment(**{k: v for k, v in values.items() if k not in ("librarian_id", "unit_id", "group_id")})
        for key, value in related.items():
            setattr(assignment, key, value)
        self.session.add(assignment)
        await self.session.flush()
        return assignment

    async def update_assignment(self, assignment: LiaisonAssignment, data: schemas.AssignmentUpdate) -> LiaisonAssignment:
        values = cleaned(data)
        related = await self._check(values, assignment)
        for key, value in values.items():
            if key not in ("librarian_id", "unit_id", "group_id"):
                setattr(assignment, key, value)
        for key, value in related.items():
            setattr(assignment, key, value)
        await self.session.flush()
        return assignment

    async def delete_assignment(self, assignment: LiaisonAssignment) -> None:
        await self.session.delete(assignment)
        await self.session.flush()


def target_name(assignment: LiaisonAssignment, language: str | None = None) -> str:
    if assignment.unit is not None:
        return assignment.unit.name(language or current_language())
    return group_label(assignment.group) if assignment.group is not None else ""


def to_schema(assignment: LiaisonAssignment, today: date | None = None) -> schemas.Assignment:
    return schemas.Assignment(
        id=assignment.id,
        librarian_id=assignment.librarian_id,
        librarian_name=assignment.librarian.full_name if assignment.librarian else "",
        unit_id=assignment.unit_id,
        unit_name=assignment.unit.name(current_language()) if assignment.unit else None,
        group_id=assignment.group_id,
        group_name=group_label(assignment.group) if assignment.group else None,
        role=assignment.role,  # type: ignore[arg-type]
        start_date=assignment.start_date,
        end_date=assignment.end_date,
        notes=assignment.notes,
        is_current=assignment.is_current(today or date.today()),
    )
