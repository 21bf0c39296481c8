"""Transactions behave the same on SQLite and PostgreSQL: a rolled-back savepoint leaves nothing."""

from sqlalchemy import func, select

from crm.liaison.models import Unit


async def test_savepoint_rollback_discards_its_rows(session_maker):
    async with session_maker() as s, s.begin():
        s.add(Unit(code="KEEP", name_vi="Giữ lại", search_key="keep"))
        await s.flush()
        nested = await s.begin_nested()
        s.add(Unit(code="DROP", name_vi="Bỏ đi", search_key="drop"))
        await s.flush()
        await nested.rollback()
    async with session_maker() as s:
        codes = set(await s.scalars(select(Unit.code)))
    assert codes == {"KEEP"}


async def test_outer_rollback_discards_everything(session_maker):
    async with session_maker() as s:
        async with s.begin():
            s.add(Unit(code="A1", name_vi="A", search_key="a"))
            await s.flush()
            await s.rollback()
    async with session_maker() as s:
        assert await s.scalar(select(func.count()).select_from(Unit)) == 0


async def test_a_released_savepoint_is_still_undone_by_the_outer_rollback(session_maker):
    # pysqlite's legacy transaction handling made a first SAVEPOINT the outermost transaction,
    # so releasing it committed: an all-or-nothing import could half-write.
    async with session_maker() as s:
        await s.begin()
        async with s.begin_nested():
            s.add(Unit(code="HALF", name_vi="Nửa chừng", search_key="half"))
        await s.rollback()
    async with session_maker() as s:
        assert await s.scalar(select(func.count()).select_from(Unit)) == 0
