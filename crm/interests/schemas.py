from typing import Annotated

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Topics = Annotated[str, msgspec.Meta(max_length=5000)] | None
#: A query written in the matching language (crm/interests/query.py); checked by the service.
MAX_QUERY_LENGTH = 5000
QueryText = Annotated[str, msgspec.Meta(max_length=MAX_QUERY_LENGTH)] | None
#: Lists are checked value by value in the service, so the message can name the bad value.
Values = list[str]


class OwnerRef(msgspec.Struct):
    kind: str  # "contact" or "group"
    id: int
    name: str


class Profile(msgspec.Struct):
    id: int
    contact_id: int | None
    group_id: int | None
    owner: OwnerRef | None
    name: str
    topics: str | None
    keywords: list[str]
    subject_headings: list[str]
    class_ranges: list[str]
    languages: list[str]
    query: str | None
    exact: bool
    #: The query the matching engine runs for this profile ("" when it has nothing to look for).
    compiled_query: str
    is_active: bool


class QueryFault(msgspec.Struct):
    """Why a query or a field does not compile: ``position`` is the 0-based character offset in ``field``."""

    field: str
    message: str
    position: int | None = None


class QueryCheck(msgspec.Struct):
    """The answer of the check-as-you-type endpoint."""

    valid: bool
    compiled: str
    error: QueryFault | None = None


class ProfilePage(msgspec.Struct):
    items: list[Profile]
    total: int
    page: int
    per_page: int


class ProfileCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    contact_id: int | None = None
    group_id: int | None = None
    topics: Topics = None
    keywords: Values = msgspec.field(default_factory=list)
    subject_headings: Values = msgspec.field(default_factory=list)
    class_ranges: Values = msgspec.field(default_factory=list)
    languages: Values = msgspec.field(default_factory=list)
    query: QueryText = None
    exact: bool = False
    is_active: bool = True


class ProfileUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    contact_id: int | None | msgspec.UnsetType = msgspec.UNSET
    group_id: int | None | msgspec.UnsetType = msgspec.UNSET
    topics: Topics | msgspec.UnsetType = msgspec.UNSET
    keywords: Values | msgspec.UnsetType = msgspec.UNSET
    subject_headings: Values | msgspec.UnsetType = msgspec.UNSET
    class_ranges: Values | msgspec.UnsetType = msgspec.UNSET
    languages: Values | msgspec.UnsetType = msgspec.UNSET
    query: QueryText | msgspec.UnsetType = msgspec.UNSET
    exact: bool | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET
