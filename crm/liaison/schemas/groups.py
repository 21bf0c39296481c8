from typing import Annotated, Literal

import msgspec

from crm.liaison.schemas.units import Code

GroupKind = Literal["cohort", "class", "research_group", "other"]
GroupName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Description = Annotated[str, msgspec.Meta(max_length=10000)] | None
ContactIds = Annotated[list[int], msgspec.Meta(max_length=5000)]


class Group(msgspec.Struct):
    id: int
    name: str
    code: str | None
    kind: GroupKind
    unit_id: int | None
    unit_code: str | None
    description: str | None
    member_count: int


class GroupPage(msgspec.Struct):
    items: list[Group]
    total: int
    page: int
    per_page: int


class GroupCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: GroupName
    code: Code | None = None
    kind: GroupKind = "cohort"
    unit_id: int | None = None
    description: Description = None


class GroupUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: GroupName | msgspec.UnsetType = msgspec.UNSET
    code: Code | None | msgspec.UnsetType = msgspec.UNSET
    kind: GroupKind | msgspec.UnsetType = msgspec.UNSET
    unit_id: int | None | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET


class GroupMembers(msgspec.Struct, forbid_unknown_fields=True):
    """The whole member list of a group (``PUT /api/groups/{id}/members``)."""

    contact_ids: ContactIds
