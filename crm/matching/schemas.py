"""Stored matches as the JSON API shows them."""

from datetime import datetime

import msgspec


class MatchedItem(msgspec.Struct):
    id: int
    title: str
    subtitle: str | None
    authors: list[str]
    year: int | None
    material_type: str | None
    language: str | None


class MatchedProfile(msgspec.Struct):
    id: int
    name: str
    contact_id: int | None
    group_id: int | None


class MatchReason(msgspec.Struct):
    """One clause that hit: ``text`` says it in the user's language; ``fields`` are the item fields it hit."""

    kind: str
    text: str
    fields: list[str]
    weight: float


class StoredMatch(msgspec.Struct):
    id: int
    item: MatchedItem
    profile: MatchedProfile
    score: float
    matched_at: datetime
    dismissed: bool
    reasons: list[MatchReason]
    #: As stored: [{"clause", "kind", "fields", "weight"}], clauses analyzed (folded).
    explanation: list[dict]


class MatchPage(msgspec.Struct):
    items: list[StoredMatch]
    total: int
    page: int
    per_page: int
