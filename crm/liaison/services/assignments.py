"""Liaison assignments: which librarian serves which unit or group, and the portfolio."""

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.liaison.models import LiaisonAssignment


class AssignmentService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def for_unit(self, unit_id: int, today: date | None = None) -> list[LiaisonAssignment]:
        """Current assignments of a unit, primary first."""
        today = today or date.today()
        query = (
            select(LiaisonAssignment)
            .where(LiaisonAssignment.unit_id == unit_id, LiaisonAssignment.start_date <= today)
            .where((LiaisonAssignment.end_date.is_(None)) | (LiaisonAssignment.end_date >= today))
            .order_by(LiaisonAssignment.role.desc(), LiaisonAssignment.start_date)
        )
        return list(await self.session.scalars(query))
