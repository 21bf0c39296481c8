"""Routes of the digests domain: JSON API under /api and pages."""

ROUTES: list = []
