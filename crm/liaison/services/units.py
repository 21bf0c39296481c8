"""Units: the university tree (university → faculty/school → department/lab)."""

from collections.abc import Iterable

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import Conflict, FieldErrors
from crm.forms import cleaned
from crm.i18n import _
from crm.liaison.models import Contact, Group, Unit
from crm.liaison.schemas import units as schemas
from crm.text import fold

MAX_DEPTH = 8


def search_key(unit: Unit) -> str:
    return fold(" ".join(filter(None, [unit.code, unit.name_vi, unit.name_en])))


class UnitService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, unit_id: int) -> Unit | None:
        return await self.session.get(Unit, unit_id)

    async def get_by_code(self, code: str) -> Unit | None:
        return await self.session.scalar(select(Unit).where(func.lower(Unit.code) == code.strip().lower()))

    async def list_units(self, q: str | None = None) -> list[Unit]:
        query = select(Unit).order_by(Unit.code)
        for token in fold(q).split():
            query = query.where(Unit.search_key.contains(token, autoescape=True))
        return list(await self.session.scalars(query))

    async def tree(self) -> list[tuple[Unit, int]]:
        """Every unit with its depth, parents before children, siblings by code."""
        units = await self.list_units()
        children: dict[int | None, list[Unit]] = {}
        for unit in units:
            children.setdefault(unit.parent_id, []).append(unit)
        out: list[tuple[Unit, int]] = []

        def walk(parent: int | None, depth: int) -> None:
            for unit in children.get(parent, []):
                out.append((unit, depth))
                walk(unit.id, depth + 1)

        walk(None, 0)
        return out

    async def descendant_ids(self, unit_ids: Iterable[int]) -> set[int]:
        """The units and everything under them (for a liaison's portfolio)."""
        rows = (await self.session.execute(select(Unit.id, Unit.parent_id))).all()
        children: dict[int, list[int]] = {}
        for uid, parent in rows:
            if parent is not None:
                children.setdefault(parent, []).append(uid)
        found: set[int] = set()
        stack = list(unit_ids)
        while stack:
            uid = stack.pop()
            if uid not in found:
                found.add(uid)
                stack.extend(children.get(uid, []))
        return found

    async def _check(self, values: dict, unit: Unit | None = None) -> None:
        errors: dict[str, str] = {}
        if "code" in values:
            other = await self.get_by_code(values["code"])
            if other is not None and (unit is None or other.id != unit.id):
                raise Conflict({"code": _("Another unit already uses this code.")})
        parent_id = values.get("parent_id")
        if parent_id is not None:
            parent = await self.get(parent_id)
            if parent is None:
                errors["parent_id"] = _("Unknown unit.")
            elif unit is not None:
                # Walk up from the new parent: meeting the unit itself would make a cycle.
                node, depth = parent, 0
                while node is not None and depth <= MAX_DEPTH:
                    if node.id == unit.id:
                        errors["parent_id"] = _("A unit cannot be placed under itself or one of its sub-units.")
                        break
                    node = await self.get(node.parent_id) if node.parent_id else None
                    depth += 1
        if errors:
            raise FieldErrors(errors)

    async def create_unit(self, data: schemas.UnitCreate) -> Unit:
        values = cleaned(data)
        await self._check(values)
        unit = Unit(**values)
        unit.search_key = search_key(unit)
        self.session.add(unit)
        await self.session.flush()
        await self.session.refresh(unit, ["parent"])
        return unit

    async def update_unit(self, unit: Unit, data: schemas.UnitUpdate) -> Unit:
        values = cleaned(data)
        await self._check(values, unit)
        for key, value in values.items():
            setattr(unit, key, value)
        unit.search_key = search_key(unit)
        await self.session.flush()
        await self.session.refresh(unit, ["parent"])
        return unit

    async def delete_unit(self, unit: Unit) -> None:
        has_children = await self.session.scalar(select(func.count()).select_from(Unit).where(Unit.parent_id == unit.id))
        if has_children:
            raise Conflict({"_": _("This unit has sub-units; move or delete them first.")})
        await self.session.delete(unit)
        await self.session.flush()

    async def counts(self, unit_id: int) -> dict[str, int]:
        contacts = await self.session.scalar(select(func.count()).select_from(Contact).where(Contact.unit_id == unit_id))
        groups = await self.session.scalar(select(func.count()).select_from(Group).where(Group.unit_id == unit_id))
        return {"contacts": contacts or 0, "groups": groups or 0}

    async def children(self, unit_id: int) -> list[Unit]:
        return list(await self.session.scalars(select(Unit).where(Unit.parent_id == unit_id).order_by(Unit.code)))

    async def options(self, language: str = "vi") -> list[tuple[int, str]]:
        """(id, indented name) pairs for selects, in tree order."""
        return [(u.id, f"{'— ' * depth}{u.name(language)} ({u.code})") for u, depth in await self.tree()]

    async def search(self, q: str) -> list[Unit]:
        term = fold(q)
        query = select(Unit).where(or_(Unit.search_key.contains(term, autoescape=True))).order_by(Unit.code).limit(20)
        return list(await self.session.scalars(query))


def to_schema(unit: Unit) -> schemas.Unit:
    return schemas.Unit(
        id=unit.id, code=unit.code, name_vi=unit.name_vi, name_en=unit.name_en, kind=unit.kind,  # type: ignore[arg-type]
        parent_id=unit.parent_id, parent_code=unit.parent.code if unit.parent else None,
    )
