"""Bad input never reaches a 500."""

import pytest

from tests.conftest import bearer


@pytest.mark.parametrize("path", ["/api/units/99999999999999999999999", "/units/99999999999999999999999",
                                  "/api/contacts/99999999999999999999999", "/contacts/99999999999999999999999"])
async def test_ids_too_large_for_the_database_are_404(client, librarian, librarian_token, path):
    r = await client.get(path, headers=bearer(librarian_token))
    assert r.status_code == 404


async def test_non_numeric_ids_are_404_or_400(client, librarian):
    r = await client.get("/units/abc")
    assert r.status_code in (400, 404)


async def test_oversized_request_bodies_are_refused(client, admin_token):
    r = await client.post("/api/units", content=b"x" * (21 * 1024 * 1024), headers={**bearer(admin_token), "Content-Type": "application/json"})
    assert r.status_code == 413
