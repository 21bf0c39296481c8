"""Display labels of the acquisitions vocabularies, translated where shown."""

from crm.i18n import _, lazy

REQUIREMENTS = {"required": lazy("Required"), "recommended": lazy("Recommended")}
CITATION_STATUSES = {
    "held": lazy("Held"),
    "confirmed": lazy("Held (confirmed)"),
    "uncertain": lazy("To confirm"),
    "not_held": lazy("Not held"),
}
#: Badge style of each status (see app.css).
CITATION_BADGES = {"held": "ok", "confirmed": "ok", "uncertain": "warn", "not_held": "danger"}
METHODS = {"isbn": lazy("same ISBN"), "doi": lazy("same DOI"), "title": lazy("title and author"),
           "manual": lazy("chosen by a librarian")}
SUGGESTER_KINDS = {"lecturer": lazy("Lecturer"), "student": lazy("Student"), "librarian": lazy("Librarian")}
SUGGESTION_STATUSES = {
    "new": lazy("New"),
    "accepted": lazy("Accepted"),
    "ordered": lazy("Ordered"),
    "received": lazy("Arrived"),
    "rejected": lazy("Declined"),
}
SUGGESTION_BADGES = {"new": "", "accepted": "ok", "ordered": "ok", "received": "ok", "rejected": "danger"}
OUTCOMES = {"met": lazy("Met"), "refused": lazy("Refused")}
REFUSAL_REASONS = {
    "not_held": lazy("Not held"),
    "on_loan": lazy("On loan"),
    "lost": lazy("Lost"),
    "restricted": lazy("Restricted"),
    "other": lazy("Other"),
}
DECISIONS = {
    "proposed": lazy("Proposed"),
    "approved": lazy("Approved"),
    "ordered": lazy("Ordered"),
    "deferred": lazy("Deferred"),
    "rejected": lazy("Rejected"),
}
#: Why an arrived item matters to a contact (for the digest composer: see services.arrivals_for_contact).
ARRIVAL_REASONS = {"reading_list": lazy("Arrived: on the reading list of your course"),
                   "suggestion": lazy("Arrived: you suggested it")}
PLAN_SOURCES = {"reading_list": lazy("Reading list"), "suggestion": lazy("Suggestion"), "refusal": lazy("Refused request")}
FORMATS = {"auto": lazy("Detect from the file"), "text": lazy("Text, one citation a line"), "ris": lazy("RIS"),
           "bibtex": lazy("BibTeX"), "csv": lazy("CSV")}


def options(vocabulary: dict[str, str]) -> list[tuple[str, str]]:
    return [(key, _(label)) for key, label in vocabulary.items()]


def label(vocabulary: dict[str, str], key: str | None) -> str:
    return _(vocabulary[key]) if key in vocabulary else (key or "")
