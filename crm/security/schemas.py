from datetime import datetime
from typing import Annotated, Literal

import msgspec

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Password = Annotated[str, msgspec.Meta(min_length=10, max_length=200)]
Role = Literal["admin", "librarian"]
Language = Literal["vi", "en"]


class User(msgspec.Struct):
    id: int
    email: str
    full_name: str
    role: Role
    language: Language
    is_active: bool
    title: str | None = None
    phone: str | None = None
    last_login_at: datetime | None = None


class UserCreate(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    full_name: Name
    password: Password
    role: Role = "librarian"
    language: Language = "vi"
    title: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    phone: Annotated[str, msgspec.Meta(max_length=50)] | None = None


class UserUpdate(msgspec.Struct, forbid_unknown_fields=True):
    email: Email | msgspec.UnsetType = msgspec.UNSET
    full_name: Name | msgspec.UnsetType = msgspec.UNSET
    password: Password | msgspec.UnsetType = msgspec.UNSET
    role: Role | msgspec.UnsetType = msgspec.UNSET
    language: Language | msgspec.UnsetType = msgspec.UNSET
    title: Annotated[str, msgspec.Meta(max_length=200)] | None | msgspec.UnsetType = msgspec.UNSET
    phone: Annotated[str, msgspec.Meta(max_length=50)] | None | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class TokenCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class TokenCreated(msgspec.Struct):
    id: int
    name: str
    token: str


class Token(msgspec.Struct):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool
