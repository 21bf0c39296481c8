"""ISBN, ISSN and DOI normalization."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.sources.identifiers import doi, isbn10, isbn13, issn


@pytest.mark.parametrize(("text", "expected"), [
    ("9780198526636", "9780198526636"),
    ("978-0-19-852663-6", "9780198526636"),
    ("0-19-852663-6 (pbk.)", "9780198526636"),
    ("0198526636", "9780198526636"),
    ("ISBN 0 19 852663 6", "9780198526636"),
    ("ISBN-13: 978-0-19-852663-6", "9780198526636"),
    ("978-604-73-7683-4 (bìa mềm)", "9786047376834"),
    ("604737683-5 : 120000đ", "9786047376834"),
    ("080442957X", "9780804429573"),
    ("0-8044-2957-x (hardcover)", "9780804429573"),
    ("9791032305690", "9791032305690"),
])
def test_isbn13(text, expected):
    assert isbn13(text) == expected


@pytest.mark.parametrize("text", [
    None, "", "abc", "0198526637",  # wrong check digit
    "9780198526637", "123456789", "97801985266361", "X198526636", "9770198526636",  # 977 is an ISSN prefix
])
def test_invalid_isbns(text):
    assert isbn13(text) is None


def test_isbn10_of_isbn13():
    assert isbn10("9780198526636") == "0198526636"
    assert isbn10("9780804429573") == "080442957X"
    assert isbn10("9791032305690") is None


@given(st.text("0123456789", min_size=9, max_size=9))
def test_every_valid_isbn10_converts_and_back(body):
    total = sum((10 - i) * int(d) for i, d in enumerate(body))
    check = (11 - total % 11) % 11
    ten = body + ("X" if check == 10 else str(check))
    thirteen = isbn13(ten)
    assert thirteen is not None and thirteen.startswith("978") and len(thirteen) == 13
    assert isbn10(thirteen) == ten
    assert isbn13(f"{ten[:1]}-{ten[1:4]}-{ten[4:9]}-{ten[9]} (pbk.)") == thirteen
    assert isbn13(thirteen) == thirteen


@given(st.text("0123456789", min_size=13, max_size=13))
def test_isbn13_accepts_exactly_the_valid_check_digits(digits):
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits[:12]))
    valid = digits[:3] in ("978", "979") and int(digits[12]) == (10 - total % 10) % 10
    assert (isbn13(digits) == digits) == valid


@pytest.mark.parametrize(("text", "expected"), [
    ("0378-5955", "0378-5955"),
    ("ISSN 0378-5955", "0378-5955"),
    ("03785955", "0378-5955"),
    ("1050-124X", "1050-124X"),
    ("1050-124x (print)", "1050-124X"),
    ("2049-3630", "2049-3630"),
])
def test_issn(text, expected):
    assert issn(text) == expected


@pytest.mark.parametrize("text", [None, "", "0378-5954", "1234", "abcd-efgh", "12345-6789"])
def test_invalid_issns(text):
    assert issn(text) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("10.1000/xyz123", "10.1000/xyz123"),
    ("https://doi.org/10.1000/XYZ.123", "10.1000/xyz.123"),
    ("http://dx.doi.org/10.1000%2F182", "10.1000/182"),
    ("doi:10.1038/NATURE12373", "10.1038/nature12373"),
    ("DOI 10.1000/abc.", "10.1000/abc"),
    ("  10.12345/ABC(2019)01  ", "10.12345/abc(2019)01"),
])
def test_doi(text, expected):
    assert doi(text) == expected


@pytest.mark.parametrize("text", [None, "", "10.12/abc", "10.1000", "https://example.org/10.1000/x", "11.1000/abc", "10.1000/ab c"])
def test_invalid_dois(text):
    assert doi(text) is None
