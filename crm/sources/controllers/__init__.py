"""The sources domain's API and pages; ROUTES collects every controller."""

from crm.sources.controllers import items, source_api, source_pages

ROUTES = [
    source_api.SourceApiController, source_api.RunApiController,
    source_pages.SourcePageController, source_pages.RunPageController,
    items.ItemApiController, items.ItemPageController,
]
