"""Routes of the questions domain: JSON API under /api and pages."""

ROUTES: list = []
