"""Scheduled jobs: the scheduler (``jobs.scheduler``) and one module per job.

A job is ``async def run(context: JobContext)``; it opens its own session and transaction and
calls services, exactly like a request handler would.
"""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker

from crm.settings import Settings


@dataclass(frozen=True)
class JobContext:
    settings: Settings
    session_maker: async_sessionmaker
