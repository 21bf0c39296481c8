"""Digest subscriptions as the JSON API shows and takes them."""

from datetime import date, datetime

import msgspec

#: Checked in the service, so each message names the rule (hour 0–23, day 1–28, …).
Frequency = str
Sections = list[str]


class Owner(msgspec.Struct):
    kind: str  # "contact" or "group"
    id: int
    name: str


class Subscription(msgspec.Struct):
    id: int
    contact_id: int | None
    group_id: int | None
    owner: Owner | None
    frequency: Frequency
    paused_until: date | None
    weekday: int
    month_day: int
    hour: int
    language: str
    max_items: int
    sections: Sections
    next_due_at: datetime | None
    last_sent_at: datetime | None
    #: Group digests: the members who left this digest.
    opted_out_contact_ids: list[int] = msgspec.field(default_factory=list)


class SubscriptionPage(msgspec.Struct):
    items: list[Subscription]
    total: int
    page: int
    per_page: int


class SubscriptionInput(msgspec.Struct, forbid_unknown_fields=True):
    """PUT body: the fields to set; a new subscription takes the CRM's defaults for the rest."""

    frequency: Frequency | msgspec.UnsetType = msgspec.UNSET
    paused_until: date | None | msgspec.UnsetType = msgspec.UNSET
    weekday: int | msgspec.UnsetType = msgspec.UNSET
    month_day: int | msgspec.UnsetType = msgspec.UNSET
    hour: int | msgspec.UnsetType = msgspec.UNSET
    language: str | msgspec.UnsetType = msgspec.UNSET
    max_items: int | msgspec.UnsetType = msgspec.UNSET
    sections: Sections | msgspec.UnsetType = msgspec.UNSET


class SubscriptionForm(msgspec.Struct):
    """A subscription form (librarian page or the lecturer's preference page) as submitted."""

    frequency: Frequency
    weekday: int = 0
    month_day: int = 1
    hour: int = 8
    language: str = "vi"
    max_items: int = 30
    sections: Sections = msgspec.field(default_factory=list)
    paused_until: date | None = None

    def as_input(self) -> SubscriptionInput:
        return SubscriptionInput(**{f: getattr(self, f) for f in self.__struct_fields__})
