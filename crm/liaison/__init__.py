"""The CRM core: units, contacts, groups, liaison assignments and interactions."""
