from datetime import datetime

from advanced_alchemy.types import DateTimeUTC, JsonB
from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base


class Match(Base):
    """An item that meets an interest profile, stored once, with why (the clauses that hit)."""

    __tablename__ = "item_match"
    __table_args__ = (
        UniqueConstraint("item_id", "profile_id", name="uq_item_match"),
        Index("ix_item_match_profile", "profile_id", "matched_at"),
    )

    item_id: Mapped[int] = mapped_column(ForeignKey("item.id", ondelete="CASCADE"), index=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("interest_profile.id", ondelete="CASCADE"))
    score: Mapped[float] = mapped_column(Float)
    #: [{"clause": "...", "kind": "term|phrase|class|…", "fields": [...], "weight": 3.0}]
    explanation: Mapped[list] = mapped_column(JsonB, default=list)
    matched_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    #: A librarian judged it a bad match: kept, so it is never matched again, but left out of digests.
    dismissed: Mapped[bool] = mapped_column(Boolean, default=False)


class MatchRun(Base):
    """One pass of the matcher: its checkpoint is the newest item id it has fully matched."""

    __tablename__ = "match_run"

    started_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    last_item_id: Mapped[int] = mapped_column(Integer, default=0)
    items: Mapped[int] = mapped_column(Integer, default=0)
    matches: Mapped[int] = mapped_column(Integer, default=0)
    profiles: Mapped[int] = mapped_column(Integer, default=0)
