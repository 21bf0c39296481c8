"""Matching new items to interest profiles: the query language, evaluation and the percolator.

``query`` parses and checks a profile's query, ``compile`` turns a profile's structured fields
into one, ``analysis`` prepares an item once, ``evaluate`` tests, scores and explains, and
``index`` (``ProfileIndex``) finds the few profiles an item could match. All of it is pure
Python without a database, so jobs, pages and the CLI share it. (The query language itself lives
in crm.interests.query and crm.interests.compile: a profile owns its query.)
"""
