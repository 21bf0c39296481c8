"""Call-number keys: string order is shelf order, and class ranges are two inclusive string bounds."""

import sqlite3
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.callnumbers import KEY_LENGTH, ddc_key, lcc_key, range_keys, scheme_of

# --- DDC ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "key"), [
    ("025.04 NGU", "025.04"),
    ("004", "004"),
    ("005.133", "005.133"),
    ("004/.678", "004.678"),
    ("025.04'2", "025.042"),
    ("895.9223 NG-A", "895.9223"),
    ("370.1 23", "370.1"),
    ("025.040", "025.04"),
    ("025.", "025"),
    ("[025.04]", "025.04"),
    ("  959.7043  ", "959.7043"),
])
def test_ddc_keys(text, key):
    assert ddc_key(text) == key


@pytest.mark.parametrize("text", [None, "", "[E]", "FIC", "B", "25.04", "0250", "QA76"])
def test_what_is_not_a_dewey_number(text):
    assert ddc_key(text) is None


def test_ddc_keys_sort_in_shelf_order():
    shelf = ["000", "004", "004.6", "005", "005.133", "006.3", "006.99", "006.995", "007", "025.04", "100", "895.9223", "999.9"]
    assert sorted(shelf, key=ddc_key) == shelf
    keys = [ddc_key(n) for n in shelf]
    assert keys == sorted(keys)


def ddc_numbers():
    return st.builds(lambda whole, decimals: f"{whole:03d}" + (f".{decimals}" if decimals else ""),
                     st.integers(0, 999), st.text("0123456789", max_size=8).map(lambda d: d.rstrip("0")))


@given(ddc_numbers(), ddc_numbers())
def test_ddc_key_order_is_numeric_order(a, b):
    assert (ddc_key(a) < ddc_key(b)) == (Decimal(a) < Decimal(b))
    assert (ddc_key(a) == ddc_key(b)) == (Decimal(a) == Decimal(b))


# --- LCC ----------------------------------------------------------------------------------


def test_lcc_key_format():
    assert lcc_key("QA76.73.P98 V36 2019") == "QA00076730000P980000V3600002019"
    assert lcc_key("qa 76.73 .p98 v36 2019") == lcc_key("QA76.73.P98 V36 2019")
    assert lcc_key("QA76") == "QA00076000000"


@pytest.mark.parametrize("text", [None, "", "FICTION", "QA", "QA12345", "004.5", "[E]"])
def test_what_is_not_an_lc_call_number(text):
    assert lcc_key(text) is None


def test_lcc_keys_sort_in_shelf_order():
    shelf = ["Q1", "Q335", "QA1", "QA9.5", "QA76", "QA76.5", "QA76.73", "QA76.73.J38", "QA76.73.P98 S65 2019",
             "QA76.73.P98 V36 2019", "QA76.9", "QA76.99", "QA77", "QA300", "QB1", "Z665", "Z678.9"]
    keys = [lcc_key(n) for n in shelf]
    assert keys == sorted(keys)
    assert lcc_key("QA76") <= lcc_key("QA76.73") <= lcc_key("QA76.99") < lcc_key("QA77")


def test_class_letters_sort_before_longer_classes():
    assert lcc_key("Q1") < lcc_key("QA1") < lcc_key("QB1") < lcc_key("R1")
    assert lcc_key("KF1") < lcc_key("KFA1") < lcc_key("KG1")


letters = st.text("ABCDEFGHJKLMNPQRSTUVZ", min_size=1, max_size=3)
numbers = st.integers(1, 9999)
decimals = st.text("0123456789", max_size=5).map(lambda d: d.rstrip("0"))


def _lcc_text(parts):
    cls, number, dec = parts
    return f"{cls}{number}" + (f".{dec}" if dec else "")


def _lcc_order(parts):
    cls, number, dec = parts
    return cls, number, Decimal("0." + (dec or "0"))


@given(st.tuples(letters, numbers, decimals), st.tuples(letters, numbers, decimals))
def test_lcc_key_order_is_class_order(a, b):
    ka, kb = lcc_key(_lcc_text(a)), lcc_key(_lcc_text(b))
    assert (ka < kb) == (_lcc_order(a) < _lcc_order(b))
    assert (ka == kb) == (_lcc_order(a) == _lcc_order(b))


@given(st.tuples(letters, numbers, decimals), st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .", max_size=30))
def test_lcc_keys_use_collation_safe_characters(parts, rest):
    key = lcc_key(_lcc_text(parts) + " " + rest)
    assert key is not None and len(key) <= KEY_LENGTH
    assert key.isascii() and key.isalnum() and key == key.upper()


# --- ranges -------------------------------------------------------------------------------


def test_ddc_ranges():
    low, high = range_keys("004-006.99")
    assert low == "004"
    inside = ["004", "004.6", "005.133", "006", "006.99", "006.995", "006.9999"]
    outside = ["003.99", "007", "007.1", "100"]
    assert all(low <= ddc_key(n) <= high for n in inside)
    assert not any(low <= ddc_key(n) <= high for n in outside)


def test_ddc_prefixes():
    assert range_keys("004") == range_keys("004*") == range_keys("[004 TO 004]")
    low, high = range_keys("004")
    assert low <= ddc_key("004.678") <= high and not high >= ddc_key("005")
    low, high = range_keys("6")  # the 600s
    assert low == "600" and high >= ddc_key("699.9") and high < ddc_key("700")
    low, high = range_keys("00")  # 000-009
    assert low <= ddc_key("004.6") <= high and high < ddc_key("010")


def test_lcc_ranges():
    low, high = range_keys("QA76-QA76.99")
    assert range_keys("QA76 TO QA76.99") == range_keys("[QA76 TO QA76.99]") == range_keys("qa76 – qa76.99") == (low, high)
    inside = ["QA76", "QA76.5", "QA76.73.P98 V36 2019", "QA76.99", "QA76.995", "QA76.99 .S65 2020"]
    outside = ["QA75.5", "QA77", "Q76", "QB76", "QA760"]
    assert all(low <= lcc_key(n) <= high for n in inside)
    assert not any(low <= lcc_key(n) <= high for n in outside)


def test_lcc_class_letters_alone():
    low, high = range_keys("QA")
    assert low <= lcc_key("QA1") and lcc_key("QA9999.9 .Z9") <= high < lcc_key("QB1")
    low, high = range_keys("Q")  # class Q itself, not its subclasses QA, QB…
    assert low <= lcc_key("Q335.5") <= high < lcc_key("QA1")
    low, high = range_keys("P-PZ")
    assert low <= lcc_key("PN6404 .G6") <= high and lcc_key("Q1") > high


@pytest.mark.parametrize("text", [None, "", "006-004", "004-QA76", "QA77-QA76", "FICTION", "QA76.73.P98-QA77", "E-F-G"])
def test_what_is_not_a_range(text):
    assert range_keys(text) is None


@given(ddc_numbers(), ddc_numbers(), ddc_numbers())
def test_ddc_range_membership_matches_numbers(a, b, x):
    start, end = sorted([a, b], key=Decimal)
    low, high = range_keys(f"{start}-{end}")
    under_end = x.startswith(end) and (len(x) == len(end) or "." in end or x[len(end)] == ".")
    expected = Decimal(start) <= Decimal(x) and (Decimal(x) <= Decimal(end) or under_end)
    assert (low <= ddc_key(x) <= high) == expected


@given(st.tuples(letters, numbers, decimals), st.tuples(letters, numbers, decimals), st.tuples(letters, numbers, decimals))
def test_lcc_range_membership_matches_classes(a, b, x):
    start, end = sorted([a, b], key=_lcc_order)
    low, high = range_keys(f"{_lcc_text(start)}-{_lcc_text(end)}")
    ex = _lcc_order(x)
    end_cls, end_number, end_dec = end
    under_end = x[0] == end_cls and x[1] == end_number and (x[2] or "").startswith(end_dec or "")
    expected = _lcc_order(start) <= ex and (ex <= _lcc_order(end) or under_end)
    assert (low <= lcc_key(_lcc_text(x)) <= high) == expected


def test_scheme_of():
    assert scheme_of("025.04 NGU") == "ddc"
    assert scheme_of("[004]") == "ddc"
    assert scheme_of("QA76.73") == "lcc"
    assert scheme_of("FICTION") is None
    assert scheme_of("") is None


def test_database_order_is_python_order():
    """Keys stored in SQLite sort and compare in SQL as they do in Python (the C collation)."""
    numbers = ["QA76.73.P98 V36 2019", "Q335", "QA76", "QB3", "QA77", "QA76.9", "KF4558 15th .A2", "Z665.2.V5"]
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE item (key TEXT)")
    db.executemany("INSERT INTO item VALUES (?)", [(lcc_key(n),) for n in numbers])
    ordered = [row[0] for row in db.execute("SELECT key FROM item ORDER BY key")]
    assert ordered == sorted(lcc_key(n) for n in numbers)
    low, high = range_keys("QA76-QA76.99")
    found = {row[0] for row in db.execute("SELECT key FROM item WHERE key >= ? AND key <= ?", (low, high))}
    assert found == {lcc_key("QA76.73.P98 V36 2019"), lcc_key("QA76"), lcc_key("QA76.9")}
