"""The rules of the sources domain: the source registry (``sources``) and the item browser (``items``)."""

from crm.sources.services.items import ItemFilter, ItemService
from crm.sources.services.sources import SourceService, can_edit, run_schema, to_schema

__all__ = ["ItemFilter", "ItemService", "SourceService", "can_edit", "run_schema", "to_schema"]
