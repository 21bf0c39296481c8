"""Interest profiles: stored structured so the matching engine can compile them later."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.interests.models import InterestProfile


class ProfileService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_for_owner(self, contact_id: int | None = None, group_id: int | None = None) -> list[InterestProfile]:
        query = select(InterestProfile).order_by(InterestProfile.name)
        if contact_id is not None:
            query = query.where(InterestProfile.contact_id == contact_id)
        if group_id is not None:
            query = query.where(InterestProfile.group_id == group_id)
        return list(await self.session.scalars(query))
