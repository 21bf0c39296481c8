"""Items analyzed once for matching: folded tokens per field, class keys, filters and index keys.

An item is matched against many profiles, so everything the evaluators and the percolator index
need is computed here once per item: folded token lists (for phrases) and sets (for terms) per
field, the sortable DDC/LCC keys, the language, type, year and sources, and the set of *index
keys* the percolator looks up. The exact (unfolded) view is built lazily, only when a profile
asks for exact matching.

Queries are analyzed by the same functions (:func:`analyze_text`), so a query term and an item
token fold identically: ``fold`` from :mod:`crm.text` (case, Vietnamese diacritics, đ → d),
cached per distinct word because a word list is small and folding is the costly step.
"""

from collections.abc import Iterable

from crm.callnumbers import ddc_key, lcc_key
from crm.text import analyze_text

#: Prefixes of index keys that are not plain tokens or bigrams (tokens never hold control chars).
FILTER = "\x01"
SUBJECT = "\x02s"
AUTHOR = "\x02a"

#: The fields a query term can address, and the item fields each one reads.
FIELD_GROUPS = {
    "default": ("title", "subtitle", "subjects", "abstract"),
    "title": ("title", "subtitle"),
    "subject": ("subjects",),
    "author": ("authors",),
}
TEXT_FIELDS = ("title", "subtitle", "subjects", "abstract", "authors")


def _joined(texts: Iterable[str], exact: bool) -> list[str | None]:
    """Tokens of several values (subject headings, authors), None between them so no phrase spans two."""
    out: list[str | None] = []
    for text in texts:
        if out:
            out.append(None)
        out.extend(analyze_text(text, exact))
    return out


class Fields:
    """Token lists (for phrases) and sets (for terms) of the text fields, in one spelling."""

    __slots__ = ("title", "subtitle", "subjects", "abstract", "authors",
                 "s_default", "s_title", "s_subject", "s_author")

    def __init__(self, texts: dict[str, object], exact: bool) -> None:
        self.title = analyze_text(texts["title"], exact)
        self.subtitle = analyze_text(texts["subtitle"], exact)
        self.subjects = _joined(texts["subjects"], exact)
        self.abstract = analyze_text(texts["abstract"], exact)
        self.authors = _joined(texts["authors"], exact)
        self.s_title = set(self.title)
        self.s_title.update(self.subtitle)
        self.s_subject = set(self.subjects)
        self.s_subject.discard(None)
        self.s_default = self.s_title | self.s_subject
        self.s_default.update(self.abstract)
        self.s_author = set(self.authors)
        self.s_author.discard(None)

    def lists(self, group: str) -> list[list]:
        return [getattr(self, name) for name in FIELD_GROUPS[group]]


class AnalyzedItem:
    """One item as the matcher sees it; build it with :func:`analyze_item`."""

    __slots__ = ("ref", "folded", "_exact", "_texts", "class_keys", "language", "material_type", "year",
                 "source_ids", "source_names", "keys")

    def __init__(self, texts: dict[str, object], *, ref: object = None, class_keys: tuple[str, ...] = (),
                 language: str | None = None, material_type: str | None = None, year: int | None = None,
                 sources: Iterable[tuple[object, str | None]] = ()) -> None:
        self.ref = ref
        self._texts = texts
        self._exact: Fields | None = None
        self.folded = fields = Fields(texts, exact=False)
        self.class_keys = class_keys
        self.language = language.lower() if language else None
        self.material_type = material_type.lower() if material_type else None
        self.year = year
        self.source_ids = frozenset(str(source_id) for source_id, _name in sources)
        self.source_names = tuple(analyze_text(name) for _id, name in sources if name)
        self.keys = self._index_keys()

    @property
    def prefix_tokens(self) -> set[str]:
        """Every folded word, for prefix lookups (computed only when some profile has a prefix)."""
        return self.folded.s_default | self.folded.s_author

    @property
    def exact(self) -> Fields:
        """Tokens as written (case and diacritics kept), for profiles that ask for exact matching."""
        if self._exact is None:
            self._exact = Fields(self._texts, exact=True)
        return self._exact

    def _index_keys(self) -> set:
        """What the percolator looks up: tokens, bigrams (2-tuples), scoped and filter keys (strings)."""
        f = self.folded
        title, subtitle, subjects, abstract = f.title, f.subtitle, f.subjects, f.abstract
        keys = f.s_default.union(
            zip(title, title[1:]), zip(subtitle, subtitle[1:]),
            zip(subjects, subjects[1:]), zip(abstract, abstract[1:]),
            [SUBJECT + token for token in f.s_subject],
            [f"{SUBJECT}{a} {b}" for a, b in zip(subjects, subjects[1:]) if a and b],
            [AUTHOR + token for token in f.s_author],
        )
        if self.language:
            keys.add(FILTER + "lang=" + self.language)
        if self.material_type:
            keys.add(FILTER + "type=" + self.material_type)
        if self.year is not None:
            keys.add(f"{FILTER}year={self.year}")
        if self.source_ids:
            keys.update([f"{FILTER}src={source_id}" for source_id in self.source_ids])
            keys.update([f"{FILTER}srcw={token}" for name in self.source_names for token in name])
        return keys


def _getter(obj: object):
    if isinstance(obj, dict):
        return obj.get
    return lambda name: getattr(obj, name, None)


def analyze_item(item: object, sources: Iterable[tuple[object, str | None]] = ()) -> AnalyzedItem:
    """Analyze an ``Item`` (ORM row), an ``ItemRecord`` or a dict with the same field names.

    ``sources`` are the item's ``(source id, source name)`` pairs, for ``source:`` clauses; they
    are passed in because an item's sources are a relationship the caller loads (or not).
    """
    value = _getter(item)
    subjects = []
    for subject in value("subjects") or ():
        heading = subject.get("heading") if isinstance(subject, dict) else getattr(subject, "heading", subject)
        if heading:
            subjects.append(str(heading))
    texts = {
        "title": value("title"),
        "subtitle": value("subtitle"),
        "subjects": subjects,
        "abstract": value("abstract"),
        "authors": [str(author) for author in value("authors") or () if author],
    }
    class_keys = []
    for key_name, text_name, make_key in (("ddc_key", "ddc", ddc_key), ("lcc_key", "lcc", lcc_key)):
        key = value(key_name) or make_key(value(text_name))
        if key:
            class_keys.append(key)
    return AnalyzedItem(
        texts,
        ref=value("id"),
        class_keys=tuple(class_keys),
        language=value("language"),
        material_type=value("material_type"),
        year=value("year"),
        sources=list(sources),
    )
