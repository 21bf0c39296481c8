"""The percolator returns exactly what brute force returns, and stays exact through edits."""

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.matching.index import ProfileIndex
from crm.interests.query import QueryError
from tests.matching.helpers import item

PROFILES = {
    1: '"thư viện số"',
    2: "class:[004 TO 006.99]",
    3: "subject:robot AND lang:vi",
    4: "dữ* AND NOT mở",
    5: "year:[1900 TO 2100]",
    6: "author:nguyen OR class:QA76*",
}


def build() -> ProfileIndex:
    index = ProfileIndex()
    for profile_id, query in PROFILES.items():
        index.add(profile_id, query)
    return index


def ids(results) -> set:
    return {profile_id for profile_id, _match in results}


def test_candidates_are_few_and_matches_are_scored_best_first():
    index = build()
    target = item("Thư viện số", subjects=("Thư viện số",), ddc="005.1", language="vie")
    assert index.candidates(target) == {1, 2, 5}  # 5 (a wide year range) is always checked
    results = index.match(target)
    assert ids(results) == {1, 2}
    assert [m.score for _id, m in results] == sorted((m.score for _id, m in results), reverse=True)


def test_unindexable_queries_are_always_checked():
    index = build()
    assert 5 in index.candidates(item("anything"))
    assert ids(index.match(item("anything", year=2020))) == {5}
    assert ids(index.match(item("anything"))) == set()


def test_add_update_remove_without_rebuild():
    index = build()
    target = item("Robot học", subjects=("Robot",), language="vie")
    assert ids(index.match(target)) == {3}
    index.update(3, "subject:robot AND lang:en")
    assert ids(index.match(target)) == set()
    index.add(7, '"robot học"')
    assert ids(index.match(target)) == {7}
    assert index.remove(7) and not index.remove(7)
    assert 7 not in index and len(index) == len(PROFILES)
    assert ids(index.match(target)) == set()
    for profile_id in PROFILES:
        index.remove(profile_id)
    assert index._postings == {} and index._sure == {} and index._classes == {} and index._prefixes == {}
    assert not index._always and not index._residual


def test_a_bad_query_leaves_the_index_unchanged():
    index = build()
    try:
        index.update(1, "NOT x")
    except QueryError:
        pass
    assert index.query(1).text == PROFILES[1]


# --- random queries and items: index == brute force ---------------------------------------

WORDS = ["thư", "viện", "số", "đại", "học", "Thư", "Đại", "dữ", "liệu", "mở", "robot", "mạng", "data", "hóa"]
HEADINGS = ["Thư viện số", "Đại học", "Dữ liệu mở", "Robot", "Mạng máy tính"]
DDC = ["004", "005.133", "006.99", "006.995", "025.04", "025.0427", "370", "020"]
LCC = ["QA76.73.P98 2019", "QA76", "Q180.55", "QB43", "Z665", "QA9.58"]
CLASS_CLAUSES = ["class:[004 TO 006.99]", "class:004*", "class:025*", "class:[QA76 TO QA76.99]", "class:QA*",
                 "class:Q*", "class:[Q1 TO QB99]", "class:0*", "class:025.04", "class:[000 TO 999]"]
FILTERS = ["lang:vi", "lang:en", "type:book", "type:article", "year:[2020 TO 2022]", "year:>=2021",
           "year:[1900 TO 2100]", "source:1", 'source:"koha"']

word = st.sampled_from(WORDS)
field = st.sampled_from(["", "", "", "title:", "subject:", "author:"])
leaf = st.one_of(
    st.builds(lambda f, w: f + w, field, word),
    st.builds(lambda f, w: f + w[:2] + "*", field, word),
    st.builds(lambda f, a, b: f'{f}"{a} {b}"', field, word, word),
    st.sampled_from(CLASS_CLAUSES),
    st.sampled_from(FILTERS),
)


def _combine(children):
    pair = st.tuples(children, children)
    return st.one_of(
        pair.map(lambda p: f"({p[0]} AND {p[1]})"),
        pair.map(lambda p: f"({p[0]} OR {p[1]})"),
        pair.map(lambda p: f"({p[0]} {p[1]})"),
        pair.map(lambda p: f"({p[0]} AND NOT {p[1]})"),
        pair.map(lambda p: f"({p[0]} -{p[1]})"),
        children.map(lambda c: f"NOT {c}"),
    )


query_text = st.recursive(leaf, _combine, max_leaves=6)
text = st.lists(word, max_size=6).map(" ".join)
random_item = st.builds(
    item,
    text,
    subtitle=st.none() | text,
    subjects=st.lists(st.sampled_from(HEADINGS), max_size=2).map(tuple),
    abstract=st.none() | text,
    authors=st.lists(st.sampled_from(["Nguyễn Văn An", "Trần Thư", "Robot Data"]), max_size=2).map(tuple),
    ddc=st.none() | st.sampled_from(DDC),
    lcc=st.none() | st.sampled_from(LCC),
    language=st.sampled_from([None, "vie", "eng"]),
    material_type=st.sampled_from([None, "book", "article"]),
    year=st.none() | st.integers(2018, 2024),
    sources=st.sampled_from([(), ((1, "Koha"),), ((2, "OAI"),)]),
)

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queries=st.lists(st.tuples(query_text, st.booleans()), min_size=1, max_size=12),
       items=st.lists(random_item, min_size=1, max_size=6), data=st.data())
def test_index_equals_brute_force(queries, items, data):
    index = ProfileIndex()
    for profile_id, (text_, is_exact) in enumerate(queries):
        try:
            index.add(profile_id, text_, exact=is_exact)
        except QueryError:
            continue
    for target in items:
        assert ids(index.match(target)) == ids(index.brute_force(target))
    # edits: remove some, change others, check again
    for profile_id in list(index._queries):
        action = data.draw(st.sampled_from(["keep", "remove", "update"]))
        if action == "remove":
            index.remove(profile_id)
        elif action == "update":
            try:
                index.update(profile_id, data.draw(query_text))
            except QueryError:
                index.remove(profile_id)
    for target in items:
        assert ids(index.match(target)) == ids(index.brute_force(target))
        assert index.candidates(target) >= ids(index.brute_force(target))


def test_every_word_character_folds_the_same_for_index_and_evaluation():
    index = ProfileIndex()
    for i, letter in enumerate(string.ascii_letters + "đĐăâêôơưĂÂÊÔƠƯ"):
        index.add(i, f"{letter}*", exact=bool(i % 2))
    target = item("Đường ăn ông ướt Ân")
    assert ids(index.match(target)) == ids(index.brute_force(target))


def test_sure_keys_skip_the_full_test_but_keep_the_residual():
    index = ProfileIndex()
    index.add("a", '"thư viện" AND lang:vi')
    index.add("b", '"thư viện số hóa"')  # three words: its bigram key is not enough
    target = item("Thư viện số hóa", language="eng")
    sure, unsure = index.candidate_sets(target)
    assert sure == {"a"} and unsure == {"b"}
    assert index.matching_ids(target) == ["b"]  # a's residual (lang:vi) still applies
