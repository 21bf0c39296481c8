"""Uploaded MARC files, kept under ``<var>/uploads`` with generated names.

The name a browser sends is only shown, never used as a path: the stored name is a random
token, a slug of the original name (letters, digits, ``-``) and an allowed extension.
"""

import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from crm.settings import Settings
from crm.text import fold

#: The largest MARC file accepted from the web (bigger exports: `crm ingest` or a server path).
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
UPLOAD_DIR = "uploads"
SUFFIXES = (".mrc", ".marc", ".xml", ".marcxml", ".dat", ".iso", ".bin", ".usm", ".out")
CHUNK = 1024 * 1024
_SLUG = re.compile(r"[^a-z0-9]+")
_STORED = re.compile(r"^[0-9a-f]{16}-")


class UploadTooLarge(Exception):
    pass


class EmptyUpload(Exception):
    pass


def upload_dir(settings: Settings) -> Path:
    return (settings.var_dir / UPLOAD_DIR).resolve()


def stored_name(client_name: str | None) -> str:
    """``<token>-<slug><suffix>``: unique, and safe whatever the client sent."""
    base = os.path.basename((client_name or "").replace("\\", "/"))
    stem, suffix = os.path.splitext(base)
    suffix = suffix.lower() if suffix.lower() in SUFFIXES else ".mrc"
    slug = _SLUG.sub("-", fold(stem)).strip("-")[:60] or "marc"
    return f"{secrets.token_hex(8)}-{slug}{suffix}"


def display_name(path: str | None) -> str:
    """What a librarian recognises: the stored name without its token."""
    if not path:
        return ""
    return _STORED.sub("", Path(path).name)


def is_upload(path: str | None, settings: Settings) -> bool:
    """Whether ``path`` is a file this module stored (and so may delete)."""
    if not path:
        return False
    candidate = Path(path)
    return candidate.parent.resolve() == upload_dir(settings) and bool(_STORED.match(candidate.name))


def _target(settings: Settings, client_name: str | None) -> tuple[Path, Path]:
    folder = upload_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / stored_name(client_name)
    return final, final.with_name(f".{final.name}.part")


def _finish(partial: Path, final: Path, size: int) -> Path:
    if size == 0:
        partial.unlink(missing_ok=True)
        raise EmptyUpload()
    os.replace(partial, final)
    return final


def store_file(source: BinaryIO, settings: Settings, client_name: str | None) -> Path:
    """Copy an open file (an upload spooled by the web server) into the uploads folder."""
    final, partial = _target(settings, client_name)
    size = 0
    try:
        with partial.open("wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise UploadTooLarge()
                out.write(chunk)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return _finish(partial, final, size)


async def store_stream(chunks: AsyncIterator[bytes], settings: Settings, client_name: str | None) -> Path:
    """Write a request body as it arrives, never holding more than a chunk in memory."""
    final, partial = _target(settings, client_name)
    size = 0
    try:
        with partial.open("wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise UploadTooLarge()
                out.write(chunk)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return _finish(partial, final, size)


def remove(path: str | None, settings: Settings) -> None:
    """Delete a stored upload; paths elsewhere on the server are never touched."""
    if is_upload(path, settings):
        Path(path).unlink(missing_ok=True)  # type: ignore[arg-type]
