"""The JSON API is described at /schema (OpenAPI), served by the app itself (no CDN)."""


async def test_openapi_document_lists_the_api(client):
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert spec["info"]["title"] == "liaison-crm"
    paths = spec["paths"]
    for path in ("/api/units", "/api/me", "/api/tokens", "/api/contacts", "/api/groups", "/api/interactions",
                 "/api/assignments", "/api/profiles"):
        assert path in paths, path
    # Pages are not part of the API description.
    assert "/login" not in paths and "/units" not in paths


async def test_schema_root_is_json_not_a_cdn_page(client):
    r = await client.get("/schema")
    assert r.status_code == 200
    assert "cdn" not in r.text.lower()
