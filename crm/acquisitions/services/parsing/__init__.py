"""Reading lists as librarians receive them: pasted lines, RIS, BibTeX or CSV → citations, or problems.

Every problem names its line (pasted text, CSV rows as a spreadsheet numbers them) or its record
and the line it starts on (RIS, BibTeX). Callers import all or nothing: one problem, nothing saved.

Pasted lines are read loosely, as syllabi write them:

- ``Vũ Hữu Tiệp. (2024). Học máy cơ bản. Khoa học và Kỹ thuật.`` (APA-like)
- ``Nguyễn Văn An (2020), Thư viện số, NXB Giáo dục, Hà Nội.`` (the Vietnamese thesis style)
- ``Phan Cự Đệ, Văn học Việt Nam hiện đại, Giáo dục Việt Nam, 2025``
- ``Goodfellow I. Deep learning. MIT Press, 2016.``

plus an ISBN or DOI anywhere in the line; list markers (``1.``, ``[2]``, ``-``) are dropped, and a
heading line such as ``Tài liệu tham khảo:`` switches the following lines to recommended reading.
"""

from crm.acquisitions.services.parsing.common import (
    CSV_HEADERS, FORMATS, MAX_CITATIONS, MAX_IMPORT_BYTES, MAX_LINE_LENGTH, CitationInput, Parsed, Problem, finish,
    requirement_of, split_authors,
)
from crm.acquisitions.services.parsing.files import (
    decode_text, detect_format, parse_bibtex, parse_csv, parse_file, parse_ris,
)
from crm.acquisitions.services.parsing.text import heading_requirement, parse_line, parse_text, sentences

__all__ = [
    "CSV_HEADERS", "FORMATS", "MAX_CITATIONS", "MAX_IMPORT_BYTES", "MAX_LINE_LENGTH", "CitationInput", "Parsed",
    "Problem", "decode_text", "detect_format", "finish", "heading_requirement", "parse_bibtex", "parse_csv",
    "parse_file", "parse_line", "parse_ris", "parse_text", "requirement_of", "sentences", "split_authors",
]
