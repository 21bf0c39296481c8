from advanced_alchemy.types import JsonB
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.db import Base


class InterestProfile(Base):
    """What a contact or a group wants to hear about.

    The structured parts (keywords, subject headings, class ranges, languages) are kept as lists
    so the matching engine can compile them to its query language.
    """

    __tablename__ = "interest_profile"
    __table_args__ = (CheckConstraint("(contact_id IS NULL) <> (group_id IS NULL)", name="one_owner"),)

    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True, default=None)
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_group.id", ondelete="CASCADE"), index=True, default=None
    )
    name: Mapped[str] = mapped_column(String(200))
    topics: Mapped[str | None] = mapped_column(Text, default=None)
    keywords: Mapped[list[str]] = mapped_column(JsonB, default=list)
    subject_headings: Mapped[list[str]] = mapped_column(JsonB, default=list)
    #: Classification ranges such as ``004-006.99`` (DDC) or ``QA76-QA76.99`` (LCC); a single class is a range of one.
    class_ranges: Mapped[list[str]] = mapped_column(JsonB, default=list)
    languages: Mapped[list[str]] = mapped_column(JsonB, default=list)
    #: A query written by the librarian in the matching language; when set it replaces keywords,
    #: subject headings and class ranges (languages still apply).
    query: Mapped[str | None] = mapped_column(Text, default=None)
    #: Match case and diacritics exactly instead of folding them.
    exact: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    search_key: Mapped[str] = mapped_column(String(600), default="")

    contact = relationship("Contact", lazy="joined")
    group = relationship("Group", lazy="joined")
