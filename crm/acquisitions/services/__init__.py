"""The rules of the acquisitions loop (no HTTP): one module per sub-feature.

- ``parsing``: pasted lines, RIS, BibTeX, CSV → citations, with problems by line or record;
- ``resolution``: is it held? (ISBN/DOI exactly, else title and author fuzzily, with a confidence);
- ``courses``, ``citations``: reading lists; ``suggestions``; ``slips``: request and unavailable slips;
- ``plan``, ``exports``: the ranked purchase plan, CSV/XLSX; ``weeding``: the weeding report;
- ``arrivals``: new items filling gaps and suggestions, and who is told.

Other domains call the functions re-exported here: ``arrivals_for_contacts`` (the digest
composer marks arrived items) and ``resolve_arrivals`` (the job).
"""

from crm.acquisitions.services.arrivals import ArrivalNote, arrivals_for_contact, arrivals_for_contacts, resolve_arrivals

__all__ = ["ArrivalNote", "arrivals_for_contact", "arrivals_for_contacts", "resolve_arrivals"]
