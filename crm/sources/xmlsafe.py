"""XML from outside is parsed with entity expansion, DTDs and network access off.

A document that declares entities (billion laughs, external entities) is refused outright with
a clear reason instead of being half-parsed: library systems never need them in MARCXML,
OAI-PMH or feeds.
"""

import io
import re
from collections.abc import Iterator
from typing import BinaryIO

from lxml import etree

#: How much of the prolog is inspected for a DOCTYPE with entity declarations.
PROLOG_BYTES = 64 * 1024
_DOCTYPE_ENTITY = re.compile(rb"<!DOCTYPE[^>\[]*\[.*?<!ENTITY", re.DOTALL | re.IGNORECASE)
_DOCTYPE_EXTERNAL = re.compile(rb"<!DOCTYPE[^>\[]*\b(SYSTEM|PUBLIC)\b", re.IGNORECASE)


class UnsafeXml(ValueError):
    """The document declares entities or an external DTD."""


def check_prolog(head: bytes) -> None:
    """Raise UnsafeXml when the start of a document declares entities or an external DTD."""
    if _DOCTYPE_ENTITY.search(head):
        raise UnsafeXml("the XML declares entities in a DTD (entity expansion is not allowed)")
    if _DOCTYPE_EXTERNAL.search(head):
        raise UnsafeXml("the XML refers to an external DTD (external entities are not allowed)")


def guarded(stream: BinaryIO) -> BinaryIO:
    """The stream, after checking its prolog; the bytes read for the check are put back."""
    head = stream.read(PROLOG_BYTES)
    check_prolog(head)
    return _Rejoined(head, stream)


class _Rejoined(io.RawIOBase):
    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._head.nbytes:
            n = min(len(buffer), self._head.nbytes)
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def parser() -> etree.XMLParser:
    """A parser for whole documents held in memory (OAI-PMH pages, feeds)."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False)


def parse_bytes(content: bytes) -> etree._Element:
    check_prolog(content[:PROLOG_BYTES])
    return etree.fromstring(content, parser())


def iterparse(stream: BinaryIO, tag: str) -> Iterator[etree._Element]:
    """Stream the elements named ``tag`` (Clark notation), freeing each after use: constant memory."""
    context = etree.iterparse(
        guarded(stream), events=("end",), tag=tag,
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
    )
    for _event, element in context:
        yield element
        element.clear(keep_tail=False)
        parent = element.getparent()
        if parent is not None:
            while element.getprevious() is not None:
                del parent[0]
