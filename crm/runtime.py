"""Background services of ``crm serve``: the local mail sink and the in-process scheduler.

Both run in the web app's event loop. ``start_background`` returns the stop callables, which
the app's lifespan awaits in reverse order at shutdown.
"""

import logging
from collections.abc import Awaitable, Callable

from litestar import Litestar

from crm.settings import Settings

log = logging.getLogger("crm")

Stop = Callable[[], Awaitable[None]]


def _ensure_log_output() -> None:
    """Show the app's own INFO messages (sink, scheduler) when nothing else configured logging."""
    crm_logger = logging.getLogger("crm")
    if logging.getLogger().handlers or crm_logger.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
    crm_logger.addHandler(handler)
    crm_logger.setLevel(logging.INFO)


async def start_background(app: Litestar, settings: Settings) -> list[Stop]:
    _ensure_log_output()
    stops: list[Stop] = []
    try:
        if settings.mail.embedded_sink:
            from crm.mail.sink import start_sink

            sink = await start_sink(settings, app.state.session_maker)
            app.state.mail_sink = sink
            if sink is not None:
                stops.append(sink.stop)
        if settings.run_scheduler:
            from jobs.scheduler import SchedulerRunner

            runner = SchedulerRunner(settings, app.state.engine, app.state.session_maker)
            await runner.start()
            app.state.scheduler = runner
            stops.append(runner.stop)
    except BaseException:
        for stop in reversed(stops):
            await stop()
        raise
    return stops
