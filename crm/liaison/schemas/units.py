from typing import Annotated, Literal

import msgspec

UnitKind = Literal["university", "faculty", "school", "institute", "department", "lab", "center", "office", "other"]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[\w.\-]+$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
OptName = Annotated[str, msgspec.Meta(max_length=255)] | None


class Unit(msgspec.Struct):
    id: int
    code: str
    name_vi: str
    name_en: str | None
    kind: UnitKind
    parent_id: int | None
    parent_code: str | None


class UnitCreate(msgspec.Struct, forbid_unknown_fields=True):
    code: Code
    name_vi: Name
    kind: UnitKind = "department"
    name_en: OptName = None
    parent_id: int | None = None


class UnitUpdate(msgspec.Struct, forbid_unknown_fields=True):
    code: Code | msgspec.UnsetType = msgspec.UNSET
    name_vi: Name | msgspec.UnsetType = msgspec.UNSET
    kind: UnitKind | msgspec.UnsetType = msgspec.UNSET
    name_en: OptName | msgspec.UnsetType = msgspec.UNSET
    parent_id: int | None | msgspec.UnsetType = msgspec.UNSET
