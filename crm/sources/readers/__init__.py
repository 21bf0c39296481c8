"""Readers: each turns one kind of source (MARC, feeds, OAI-PMH) into ``ItemRecord``s."""
