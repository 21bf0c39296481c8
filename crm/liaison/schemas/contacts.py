from typing import Annotated, Literal

import msgspec

ContactKind = Literal["lecturer", "researcher", "student", "staff"]
Language = Literal["vi", "en"]
FullName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Email = Annotated[str, msgspec.Meta(min_length=1, max_length=254)]
Title = Annotated[str, msgspec.Meta(max_length=100)] | None
Position = Annotated[str, msgspec.Meta(max_length=200)] | None
Phone = Annotated[str, msgspec.Meta(max_length=50)] | None
Notes = Annotated[str, msgspec.Meta(max_length=10000)] | None


class Contact(msgspec.Struct):
    id: int
    full_name: str
    email: str
    kind: ContactKind
    unit_id: int | None
    unit_code: str | None
    academic_title: str | None
    position: str | None
    phone: str | None
    language: Language
    notes: str | None
    is_active: bool


class ContactPage(msgspec.Struct):
    items: list[Contact]
    total: int
    page: int
    per_page: int


class ContactCreate(msgspec.Struct, forbid_unknown_fields=True):
    full_name: FullName
    email: Email
    kind: ContactKind = "lecturer"
    unit_id: int | None = None
    academic_title: Title = None
    position: Position = None
    phone: Phone = None
    language: Language = "vi"
    notes: Notes = None
    is_active: bool = True


class ContactUpdate(msgspec.Struct, forbid_unknown_fields=True):
    full_name: FullName | msgspec.UnsetType = msgspec.UNSET
    email: Email | msgspec.UnsetType = msgspec.UNSET
    kind: ContactKind | msgspec.UnsetType = msgspec.UNSET
    unit_id: int | None | msgspec.UnsetType = msgspec.UNSET
    academic_title: Title | msgspec.UnsetType = msgspec.UNSET
    position: Position | msgspec.UnsetType = msgspec.UNSET
    phone: Phone | msgspec.UnsetType = msgspec.UNSET
    language: Language | msgspec.UnsetType = msgspec.UNSET
    notes: Notes | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET
