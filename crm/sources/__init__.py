"""Sources and ingestion: MARC21/MARCXML files, RSS/Atom feeds and OAI-PMH into one item store."""
