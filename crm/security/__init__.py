"""Librarian accounts, login sessions, API tokens, roles, signed links and rate limits."""
