"""What a digest says: its entries grouped by profile and section, the greeting, the liaison
librarian's signature, and the rendered email (subject, text, HTML) in the recipient's language.

Composition (which items) lives in :mod:`crm.digests.compose`; this module only presents them.
"""

from dataclasses import dataclass, field, replace
from email.utils import parseaddr

from markupsafe import Markup

from crm.digests.citations import FormattedCitation, ItemLink
from crm import i18n
from crm.i18n import _, lazy, ngettext
from crm.liaison.models import Contact, LiaisonAssignment
from crm.sources.models import Item
from crm.templating import render as render_template
from crm.templating import inline_piece, render_email

#: Email headings of the sections, in the order a digest shows them.
SECTION_TITLES = {
    "acquisitions": lazy("New books and materials"),
    "articles": lazy("New journal articles"),
    "repository": lazy("From the institutional repository"),
}
LINK_LABELS = {
    "opac": lazy("See it in the library catalogue"),
    "openurl": lazy("Find the full text through the library"),
    "doi": lazy("Read the article (DOI)"),
    "url": lazy("Open the item"),
}
#: How a Vietnamese email addresses a reader whose gender it does not know.
VI_ADDRESS = {"lecturer": "Thầy/Cô", "researcher": "Anh/Chị", "student": "bạn", "staff": "Anh/Chị"}
#: Rendered entries kept per run (about two kilobytes each).
FRAGMENT_CACHE_SIZE = 50_000
#: Reasons shown per entry (the strongest first).
MAX_REASONS = 3


@dataclass
class DigestItem:
    item: Item
    profile_id: int | None
    section: str
    score: float
    citation: FormattedCitation
    link: ItemLink | None
    reasons: list[str]
    source_kinds: frozenset[str] = frozenset()
    #: It arrived because the recipient asked for it (their reading list, their suggestion).
    arrived: bool = False
    #: The entry as the email shows it (set by :func:`render`).
    fragment: "Fragment | None" = None

    @property
    def fragment_key(self) -> tuple:
        """What the entry's rendering depends on, besides the language and its reasons (put in
        afterwards): the same for every recipient of the item, so a run renders it once."""
        return (self.item.id, self.section, self.link.url if self.link else None, bool(self.reasons), self.arrived)

    @property
    def link_label(self) -> str:
        return _(LINK_LABELS[self.link.kind]) if self.link else ""

    @property
    def call_number(self) -> str | None:
        """Where a held item stands on the shelf (shown for items the library holds)."""
        if self.section != "acquisitions" or "marc" not in self.source_kinds:
            return None
        return self.item.ddc or self.item.lcc


@dataclass(frozen=True)
class Fragment:
    """One entry rendered: HTML (its CSS inlined already, put in the email with ``piece``) and text."""

    html: Markup
    text: str


#: Stands for an entry's reasons in the rendering shared by every recipient of the item.
_REASONS = "\ue000reasons\ue000"


def _html_text(text: str) -> str:
    """Text as the CSS inliner writes it into HTML (&, <, > and no-break spaces escaped, quotes not)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\xa0", "&nbsp;")


def render_fragment(entry: DigestItem, cache: dict | None = None) -> Fragment:
    """The entry in the current language. The citation, call number and link are rendered (and
    the HTML inlined) once per item and kept in ``cache`` for the other emails of a run; only the
    reasons, which differ from one recipient to the next, are put in for each."""
    key = (i18n.current_language(), *entry.fragment_key)
    shared = cache.get(key) if cache is not None else None
    if shared is None:
        stand_in = replace(entry, reasons=[_REASONS] if entry.reasons else [])
        html = render_template("email/digest/_entry.html", e=stand_in).strip("\n")
        shared = Fragment(Markup(inline_piece("digest", html)),
                          render_template("email/digest/_entry.txt", e=stand_in).strip("\n"))
        if cache is not None:
            if len(cache) >= FRAGMENT_CACHE_SIZE:
                cache.clear()  # a very large run: start over rather than grow without end
            cache[key] = shared
    if not entry.reasons:
        return shared
    reasons = "; ".join(entry.reasons)
    return Fragment(Markup(str.replace(shared.html, _REASONS, _html_text(reasons))),
                    shared.text.replace(_REASONS, reasons))


@dataclass
class DigestSection:
    key: str
    entries: list[DigestItem] = field(default_factory=list)

    @property
    def title(self) -> str:
        return _(SECTION_TITLES[self.key])


@dataclass
class ProfileBlock:
    """The entries of one interest profile, or (``kind="arrivals"``) the items the recipient asked for."""

    profile_id: int | None
    name: str
    sections: list[DigestSection] = field(default_factory=list)
    kind: str = "profile"

    @property
    def count(self) -> int:
        return sum(len(s.entries) for s in self.sections)


@dataclass
class RenderedDigest:
    """A digest ready to queue (or to preview): the email and what it lists."""

    subscription_id: int
    contact_id: int
    language: str
    blocks: list[ProfileBlock]
    sender: str
    to: str
    reply_to: str
    subject: str = ""
    text: str = ""
    html: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    ris: str = ""
    liaison_id: int | None = None

    @property
    def entries(self) -> list[DigestItem]:
        return [entry for block in self.blocks for section in block.sections for entry in section.entries]

    @property
    def item_count(self) -> int:
        return sum(block.count for block in self.blocks)


def given_name(full_name: str) -> str:
    words = full_name.split()
    return words[-1] if words else full_name


def greeting(contact: Contact, language: str) -> str:
    """'Kính gửi TS. Nguyễn Văn An,' / 'Chào bạn An,' / 'Dear Dr Nguyễn Văn An,'."""
    name = " ".join(contact.full_name.split())
    title = (contact.academic_title or "").strip()
    if language == "vi":
        if contact.kind == "student" and not title:
            return _("Hello %(name)s,", name=f"bạn {given_name(name)}")
        return _("Dear %(name)s,", name=f"{title or VI_ADDRESS.get(contact.kind, 'Anh/Chị')} {name}")
    return _("Dear %(name)s,", name=f"{title} {name}".strip())


def reader_address(contact: Contact, language: str) -> str:
    """'you' as the body of the email says it: 'Thầy/Cô', 'Anh/Chị', 'bạn' in Vietnamese."""
    if language == "vi":
        return VI_ADDRESS.get(contact.kind, "Anh/Chị")
    return "you"


def library_name(sender: str) -> str | None:
    """The display name of the library's sending address ("Thư viện <thu-vien@…>" → "Thư viện")."""
    return parseaddr(sender)[0].strip() or None


def signature(assignment: LiaisonAssignment | None, language: str) -> dict | None:
    if assignment is None or assignment.librarian is None:
        return None
    librarian = assignment.librarian
    served = ""
    if assignment.unit is not None:
        served = assignment.unit.name(language)
    elif assignment.group is not None:
        served = assignment.group.name
    return {
        "name": librarian.full_name,
        "title": librarian.title or _("Liaison librarian"),
        "unit": _("Liaison for %(unit)s", unit=served) if served else None,
        "email": librarian.email,
        "phone": librarian.phone,
    }


def email_context(digest: RenderedDigest, contact: Contact, assignment: LiaisonAssignment | None, *,
                  group_name: str | None, preferences_url: str | None, unsubscribe_url: str | None,
                  export_urls: dict[str, str] | None) -> dict:
    """What the digest's templates show, in the current language (entries rendered already)."""
    language = digest.language
    return {
        "library_name": library_name(digest.sender),
        "greeting": greeting(contact, language),
        "intro": ngettext("The library has %(num)s new item on the topics %(you)s follow.",
                          "The library has %(num)s new items on the topics %(you)s follow.",
                          digest.item_count, you=reader_address(contact, language)),
        "contact": contact,
        "group_name": group_name,
        "blocks": digest.blocks,
        "item_count": digest.item_count,
        "export": export_urls,
        "signature": signature(assignment, language),
        "footer_note": _("You receive this digest because the library keeps an interest profile for you."),
        "preferences_url": preferences_url,
        "unsubscribe_url": unsubscribe_url,
    }


def render(digest: RenderedDigest, contact: Contact, assignment: LiaisonAssignment | None, *,
           group_name: str | None, preferences_url: str | None, unsubscribe_url: str | None,
           export_urls: dict[str, str] | None, fragments: dict | None = None) -> None:
    """Fill in the digest's subject, text and HTML (in its language). ``fragments``: a cache of
    rendered entries shared by the emails of a run."""
    with i18n.language(digest.language):
        for entry in digest.entries:
            entry.fragment = render_fragment(entry, fragments)
        context = email_context(digest, contact, assignment, group_name=group_name, preferences_url=preferences_url,
                                unsubscribe_url=unsubscribe_url, export_urls=export_urls)
    digest.subject, digest.text, digest.html = render_email("digest", context, digest.language)
