"""Routes of the matching domain: JSON API under /api and pages."""

from crm.matching.controllers import matches, preview

ROUTES: list = []
ROUTES += preview.ROUTES
ROUTES += matches.ROUTES
