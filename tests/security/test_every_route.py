"""Every route but the few public ones needs a login: a test that walks the whole app."""

import re

import pytest

PUBLIC = {"/login", "/logout", "/language"}
PUBLIC_PREFIXES = ("/static", "/schema")
PUBLIC_PREFIXES += ("/preferences/", "/unsubscribe/")  # digest links: signed tokens, tested in tests/digests
PUBLIC |= {"/digests/{digest_id:int}/export.ris", "/digests/{digest_id:int}/export.bib",  # signed token, tests/digests
           "/digests/export.ris", "/digests/export.bib"}
PUBLIC_PREFIXES += ("/ask", "/faq", "/questions/track/", "/questions/reply/")  # students and lecturers: tests/questions
PUBLIC |= {"/suggest", "/suggest/{token:str}"}  # purchase suggestions (signed link, rate limit): tests/acquisitions


def _routes(app):
    for route in app.routes:
        path = route.path
        if path in PUBLIC or path.startswith(PUBLIC_PREFIXES):
            continue
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            yield method, re.sub(r"\{[^}]+\}", "1", path)


async def test_anonymous_requests_are_refused_everywhere(app, client):
    checked = 0
    for method, path in _routes(app):
        r = await client.request(method, path, follow_redirects=False)
        if path.startswith("/api"):
            assert r.status_code == 401, (method, path, r.status_code)
        elif method == "GET":
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), (method, path, r.status_code)
        else:
            # Unsafe page requests without a CSRF token stop at the CSRF check (403) or the login (303).
            assert r.status_code in (303, 403), (method, path, r.status_code)
        checked += 1
    assert checked > 60


async def test_admin_routes_refuse_librarians(app, client, librarian):
    admin_only = ["/admin/users", "/admin/users/new", "/units/new", "/units/import", "/assignments/new"]
    for path in admin_only:
        r = await client.get(path, follow_redirects=False)
        assert r.status_code == 403, path
