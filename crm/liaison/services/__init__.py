"""The CRM core's rules, one module per entity; no HTTP here."""
