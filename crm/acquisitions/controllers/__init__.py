"""Routes of the acquisitions domain: JSON API under /api and pages."""

ROUTES: list = []
