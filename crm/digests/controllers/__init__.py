"""Routes of the digests domain: JSON API under /api and pages."""

ROUTES: list = []
from crm.digests.controllers import subscriptions, public  # noqa: E402
ROUTES += [*subscriptions.ROUTES, *public.ROUTES]
from crm.digests.controllers import export, history, preview  # noqa: E402
ROUTES += [*preview.ROUTES, *history.ROUTES, *export.ROUTES]
