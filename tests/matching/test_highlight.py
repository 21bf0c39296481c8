"""Highlighting: folded hits mark the words as written, phrases as one run, prefixes, and everything stays escaped."""

from markupsafe import Markup

from crm.matching.evaluate import Hit, compile_query
from crm.matching.highlight import SNIPPET_CHARS, highlight, patterns, snippet, spans
from tests.matching.helpers import item

TITLE = "Thư viện số hóa trong trường đại học"


def hits_of(query: str, target, exact: bool = False):
    found = compile_query(query, exact).evaluate(target)
    assert found is not None, query
    return found.hits


def test_a_folded_term_marks_the_word_as_written():
    hits = hits_of("thu", item(TITLE))
    assert highlight(TITLE, hits) == Markup("<mark>Thư</mark> viện số hóa trong trường đại học")


def test_a_phrase_is_marked_as_a_whole():
    hits = hits_of('"thu vien so"', item(TITLE))
    assert highlight(TITLE, hits) == Markup("<mark>Thư viện số</mark> hóa trong trường đại học")
    # Punctuation between the words of a phrase is inside the one mark.
    text = "Thư-viện, số hóa"
    assert highlight(text, hits_of('"thư viện"', item(text))) == Markup("<mark>Thư-viện</mark>, số hóa")


def test_prefix_terms_mark_every_word_they_start():
    text = "Học máy và học sâu; Hóa học"
    hits = hits_of("học*", item(text))
    assert highlight(text, hits) == Markup("<mark>Học</mark> máy và <mark>học</mark> sâu; Hóa <mark>học</mark>")


def test_d_with_stroke_and_case_fold():
    text = "ĐẠI HỌC Quốc gia"
    assert highlight(text, hits_of('"dai hoc"', item(text))) == Markup("<mark>ĐẠI HỌC</mark> Quốc gia")


def test_exact_hits_mark_only_the_exact_spelling():
    text = "Thư viện số và thu vien so"
    hits = hits_of('"Thư viện số"', item(text), exact=True)
    assert highlight(text, hits, exact=True) == Markup("<mark>Thư viện số</mark> và thu vien so")
    # The same hits read as folded would mark both spellings; exact keeps the difference.
    assert highlight(text, [Hit('"thu vien so"', "phrase", ("title",), 2.0)]).count("<mark>") == 2


def test_markup_in_titles_stays_escaped():
    text = '<script>alert("thư")</script> Thư viện & <b>số</b>'
    hits = hits_of("thư", item(text))
    out = highlight(text, hits)
    assert "<script>" not in out and "<b>" not in out
    assert out == Markup('&lt;script&gt;alert(&#34;<mark>thư</mark>&#34;)&lt;/script&gt; <mark>Thư</mark> '
                         'viện &amp; &lt;b&gt;số&lt;/b&gt;')
    assert snippet(text * 20, hits).count("<script>") == 0


def test_field_scoped_hits_and_filters():
    target = item("Quản trị thư viện", subjects=("Thư viện học",), ddc="025.1", language="vie")
    hits = hits_of('subject:"thư viện" AND class:025* AND lang:vi', target)
    assert [p.tokens for p in patterns(hits)] == [("thu", "vien")]  # class and lang mark no words
    assert highlight("Thư viện học", hits, fields=("subjects",)) == Markup("<mark>Thư viện</mark> học")
    # A hit found only in the subject headings does not mark the title.
    assert highlight("Quản trị thư viện", hits, fields=("title",)) == Markup("Quản trị thư viện")


def test_stored_explanations_work_too():
    stored = [{"clause": 'title:"so hoa"', "kind": "phrase", "fields": ["title"], "weight": 2.0},
              {"clause": "dai*", "kind": "prefix", "fields": ["title"], "weight": 2.0}]
    assert highlight(TITLE, stored) == Markup("Thư viện <mark>số hóa</mark> trong trường <mark>đại</mark> học")


def test_overlapping_hits_merge_into_one_mark():
    hits = hits_of('"thư viện" OR "viện số"', item(TITLE))
    assert spans(TITLE, hits) == [(0, 11)]
    assert highlight(TITLE, hits).startswith(Markup("<mark>Thư viện số</mark>"))


def test_empty_text_and_no_hits():
    assert highlight(None, []) == Markup("")
    assert highlight("a <b>", []) == Markup("a &lt;b&gt;")


def test_snippet_centres_a_long_text_on_the_first_mark():
    abstract = "Mở đầu. " * 60 + "Nghiên cứu về thư viện số tại Việt Nam. " + "Kết luận. " * 60
    hits = hits_of('"thư viện số"', item("x", abstract=abstract))
    out = snippet(abstract, hits)
    assert out.startswith("…") and out.endswith("…")
    assert "<mark>thư viện số</mark>" in out
    assert len(out.striptags()) <= SNIPPET_CHARS + 2
    short = "Thư viện số"
    assert snippet(short, hits) == Markup("<mark>Thư viện số</mark>")
    # Without a mark near the start, the text opens the snippet.
    assert snippet("Không liên quan. " * 40, []).startswith("Không liên quan.")
