"""Routes of the matching domain: JSON API under /api and pages."""

ROUTES: list = []
