from datetime import date
from typing import Annotated, Literal

import msgspec

Role = Literal["primary", "backup"]
Notes = Annotated[str, msgspec.Meta(max_length=5000)] | None


class Assignment(msgspec.Struct):
    id: int
    librarian_id: int
    librarian_name: str
    unit_id: int | None
    unit_name: str | None
    group_id: int | None
    group_name: str | None
    role: Role
    start_date: date
    end_date: date | None
    notes: str | None
    is_current: bool


class AssignmentCreate(msgspec.Struct, forbid_unknown_fields=True):
    librarian_id: int
    unit_id: int | None = None
    group_id: int | None = None
    role: Role = "primary"
    #: Defaults to today.
    start_date: date | None = None
    end_date: date | None = None
    notes: Notes = None


class AssignmentUpdate(msgspec.Struct, forbid_unknown_fields=True):
    librarian_id: int | msgspec.UnsetType = msgspec.UNSET
    unit_id: int | None | msgspec.UnsetType = msgspec.UNSET
    group_id: int | None | msgspec.UnsetType = msgspec.UNSET
    role: Role | msgspec.UnsetType = msgspec.UNSET
    start_date: date | msgspec.UnsetType = msgspec.UNSET
    end_date: date | None | msgspec.UnsetType = msgspec.UNSET
    notes: Notes | msgspec.UnsetType = msgspec.UNSET


class PortfolioTarget(msgspec.Struct):
    """A unit or group the librarian serves, or a sub-unit reached through one."""

    kind: Literal["unit", "group"]
    id: int
    name: str
    role: Role | None
    #: For a sub-unit: the assigned unit it belongs to.
    via_unit_id: int | None
    contacts: int
    groups: int


class PortfolioPerson(msgspec.Struct):
    id: int
    full_name: str
    email: str
    kind: str
    unit_id: int | None
    unit_name: str | None


class Portfolio(msgspec.Struct):
    librarian_id: int
    librarian_name: str
    targets: list[PortfolioTarget]
    people: list[PortfolioPerson]
    people_total: int
    page: int
    per_page: int


class UnassignedUnit(msgspec.Struct):
    id: int
    code: str
    name: str
    #: The nearest unit above with a current liaison, if any: the unit is then served through it.
    covered_by_unit_id: int | None
    covered_by_unit_name: str | None
