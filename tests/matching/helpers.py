"""Items for matching tests, as plain dicts (the shape ``analyze_item`` accepts besides Item/ItemRecord)."""

from crm.matching.analysis import AnalyzedItem, analyze_item


def item(title: str = "", *, subtitle: str | None = None, subjects: tuple[str, ...] = (), abstract: str | None = None,
         authors: tuple[str, ...] = (), ddc: str | None = None, lcc: str | None = None, language: str | None = None,
         material_type: str | None = None, year: int | None = None,
         sources: tuple[tuple[int, str], ...] = ()) -> AnalyzedItem:
    return analyze_item(
        {"title": title, "subtitle": subtitle, "subjects": [{"heading": s, "scheme": "lcsh"} for s in subjects],
         "abstract": abstract, "authors": list(authors), "ddc": ddc, "lcc": lcc, "language": language,
         "material_type": material_type, "year": year},
        sources=sources,
    )
