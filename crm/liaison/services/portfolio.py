"""A liaison's portfolio: the units (with their sub-units) and groups they serve now, and the people in them."""

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.liaison.models import Contact, Group, LiaisonAssignment, Unit, group_member
from crm.liaison.services.assignments import AssignmentService
from crm.liaison.services.interactions import InteractionService
from crm.liaison.services.units import UnitService
from crm.pagination import Page, paginate


@dataclass
class Scope:
    """What a librarian serves today: assigned units and everything under them, and groups."""

    assignments: list[LiaisonAssignment]
    unit_ids: set[int] = field(default_factory=set)
    #: Groups assigned directly, and groups that belong to one of the units.
    group_ids: set[int] = field(default_factory=set)

    @property
    def is_empty(self) -> bool:
        return not self.unit_ids and not self.group_ids

    def people(self) -> Select:
        """Contact ids in the portfolio (a subquery): contacts of its units and members of its groups."""
        members = select(group_member.c.contact_id).where(group_member.c.group_id.in_(list(self.group_ids)))
        return select(Contact.id).where(or_(Contact.unit_id.in_(list(self.unit_ids)), Contact.id.in_(members)))


@dataclass
class UnitRow:
    unit: Unit
    depth: int
    role: str | None  # set on units assigned directly
    via: Unit | None  # for a sub-unit: the assigned unit above it
    contacts: int
    groups: int


@dataclass
class GroupRow:
    group: Group
    role: str | None  # set on groups assigned directly
    members: int


@dataclass
class Portfolio:
    scope: Scope
    units: list[UnitRow]
    groups: list[GroupRow]
    people: Page


@dataclass
class Unassigned:
    unit: Unit
    depth: int
    covered_by: Unit | None


def _roles(assignments: list[LiaisonAssignment], attr: str) -> dict[int, str]:
    """Target id → role; primary wins when a librarian holds both roles for one target."""
    roles: dict[int, str] = {}
    for a in assignments:
        target = getattr(a, attr)
        if target is not None and roles.get(target) != "primary":
            roles[target] = a.role
    return roles


class PortfolioService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def scope(self, librarian_id: int, today: date | None = None) -> Scope:
        assignments = await AssignmentService(self.session).current_for_librarian(librarian_id, today)
        scope = Scope(assignments=assignments)
        roots = [a.unit_id for a in assignments if a.unit_id is not None]
        scope.unit_ids = await UnitService(self.session).descendant_ids(roots) if roots else set()
        scope.group_ids = {a.group_id for a in assignments if a.group_id is not None}
        if scope.unit_ids:
            scope.group_ids |= set(await self.session.scalars(select(Group.id).where(Group.unit_id.in_(list(scope.unit_ids)))))
        return scope

    async def portfolio(self, librarian_id: int, page: int | None = 1, per_page: int | None = None,
                        today: date | None = None) -> Portfolio:
        scope = await self.scope(librarian_id, today)
        unit_roles = _roles(scope.assignments, "unit_id")
        group_roles = _roles(scope.assignments, "group_id")

        contacts_per_unit: dict[int, int] = {}
        groups_per_unit: dict[int, int] = {}
        units: list[UnitRow] = []
        if scope.unit_ids:
            contacts_per_unit = dict((await self.session.execute(
                select(Contact.unit_id, func.count()).where(Contact.unit_id.in_(list(scope.unit_ids))).group_by(Contact.unit_id))).all())
            groups_per_unit = dict((await self.session.execute(
                select(Group.unit_id, func.count()).where(Group.unit_id.in_(list(scope.unit_ids))).group_by(Group.unit_id))).all())
            tree = [(u, d) for u, d in await UnitService(self.session).tree() if u.id in scope.unit_ids]
            by_id = {u.id: u for u, _ in tree}
            for unit, depth in tree:
                via = None
                if unit.id not in unit_roles:
                    parent = by_id.get(unit.parent_id) if unit.parent_id else None
                    while parent is not None and parent.id not in unit_roles:
                        parent = by_id.get(parent.parent_id) if parent.parent_id else None
                    via = parent
                units.append(UnitRow(unit, depth, unit_roles.get(unit.id), via,
                                     contacts_per_unit.get(unit.id, 0), groups_per_unit.get(unit.id, 0)))
            # Show each assigned subtree from its own root, even when roots are nested in another's tree.
            base = min((d for _, d in tree), default=0)
            for row in units:
                row.depth -= base

        groups: list[GroupRow] = []
        if scope.group_ids:
            members = dict((await self.session.execute(
                select(group_member.c.group_id, func.count())
                .where(group_member.c.group_id.in_(list(scope.group_ids))).group_by(group_member.c.group_id))).all())
            rows = await self.session.scalars(select(Group).where(Group.id.in_(list(scope.group_ids))).order_by(Group.name))
            groups = [GroupRow(g, group_roles.get(g.id), members.get(g.id, 0)) for g in rows]
            groups.sort(key=lambda r: (r.role is None, r.group.name))

        if scope.is_empty:
            people = Page(items=[], total=0, number=1, per_page=per_page or 50)
        else:
            query = select(Contact).where(Contact.id.in_(scope.people())).order_by(Contact.sort_key, Contact.id)
            people = await paginate(self.session, query, page, per_page)
        return Portfolio(scope=scope, units=units, groups=groups, people=people)

    async def recent_activity(self, scope: Scope, limit: int = 15):
        """The latest interactions with people or groups of the portfolio, by any librarian."""
        if scope.is_empty:
            return []
        return await InteractionService(self.session).recent_touching(scope.people(), scope.group_ids, limit)

    async def unassigned_units(self, today: date | None = None) -> list[Unassigned]:
        """Every unit without a current liaison of its own, with the unit above that covers it, if any."""
        assigned = await AssignmentService(self.session).current_unit_ids(today)
        tree = await UnitService(self.session).tree()
        by_id = {u.id: u for u, _ in tree}
        out: list[Unassigned] = []
        for unit, depth in tree:
            if unit.id in assigned:
                continue
            parent = by_id.get(unit.parent_id) if unit.parent_id else None
            while parent is not None and parent.id not in assigned:
                parent = by_id.get(parent.parent_id) if parent.parent_id else None
            out.append(Unassigned(unit, depth, parent))
        return out
