from datetime import datetime

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base


class SinkMessage(Base):
    """A message received by the local SMTP sink (embedded mode), readable in the web UI."""

    __tablename__ = "sink_message"

    received_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    mail_from: Mapped[str] = mapped_column(String(320))
    rcpt_to: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(String(998), default="")
    message_id: Mapped[str | None] = mapped_column(String(998), default=None)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
