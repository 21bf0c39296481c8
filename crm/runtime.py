"""Background services of `crm serve`: the scheduler and the local mail sink."""


async def start_background(app, settings):
    return []
