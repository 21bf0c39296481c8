"""Interactions: the liaison's log of meetings, consultations, trainings… and their follow-ups."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.liaison.models import Interaction, interaction_contact, interaction_group


class InteractionService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def timeline(self, contact_id: int | None = None, group_id: int | None = None) -> list[Interaction]:
        """Every interaction a contact or a group took part in, newest first."""
        query = select(Interaction).order_by(Interaction.occurred_on.desc(), Interaction.id.desc())
        if contact_id is not None:
            query = query.join(interaction_contact).where(interaction_contact.c.contact_id == contact_id)
        if group_id is not None:
            query = query.join(interaction_group).where(interaction_group.c.group_id == group_id)
        return list((await self.session.scalars(query)).unique())
