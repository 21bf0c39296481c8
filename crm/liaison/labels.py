"""Display labels for the CRM's fixed vocabularies, translated where shown."""

from crm.i18n import _, lazy

UNIT_KINDS = {
    "university": lazy("University"),
    "faculty": lazy("Faculty"),
    "school": lazy("School"),
    "institute": lazy("Institute"),
    "department": lazy("Department"),
    "lab": lazy("Laboratory"),
    "center": lazy("Centre"),
    "office": lazy("Office"),
    "other": lazy("Other"),
}
CONTACT_KINDS = {
    "lecturer": lazy("Lecturer"),
    "researcher": lazy("Researcher"),
    "student": lazy("Student"),
    "staff": lazy("Staff"),
}
GROUP_KINDS = {
    "cohort": lazy("Cohort"),
    "class": lazy("Class"),
    "research_group": lazy("Research group"),
    "other": lazy("Other"),
}
ASSIGNMENT_ROLES = {"primary": lazy("Primary"), "backup": lazy("Backup")}
INTERACTION_KINDS = {
    "meeting": lazy("Meeting"),
    "email": lazy("Email"),
    "phone": lazy("Phone call"),
    "consultation": lazy("Consultation"),
    "training": lazy("Training"),
    "event": lazy("Event"),
    "other": lazy("Other"),
}
LANGUAGES = {"vi": "Tiếng Việt", "en": "English"}


def options(vocabulary: dict[str, str]) -> list[tuple[str, str]]:
    """(value, translated label) pairs for a select."""
    return [(key, _(label)) for key, label in vocabulary.items()]


def label(vocabulary: dict[str, str], key: str | None) -> str:
    return _(vocabulary[key]) if key in vocabulary else (key or "")
