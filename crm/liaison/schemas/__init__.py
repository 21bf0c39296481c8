"""msgspec Structs for the CRM core's API: one module per entity."""
