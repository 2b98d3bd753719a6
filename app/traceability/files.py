"""Traceability's uploaded files: certificate scans and batch event photos.

They live under PRIVATE_MEDIA_DIR, never under MEDIA_DIR (which is served as it is at /media/), so a file is
reachable only through a route that has decided who may see it. What is stored is never the upload as sent:

* The type is sniffed from the bytes (never the name or the client's Content-Type); anything but PNG, JPEG or
  WebP (and PDF for certificates) is refused, whatever it calls itself (GIF, SVG, HTML...).
* Images are decoded and re-encoded as JPEG exactly like product images (app.catalog.images.process): EXIF
  (GPS position, camera serial) and anything riding along after the image data (a PNG with HTML appended)
  are gone.
* A PDF is kept as sent, and only ever served as an attachment with `nosniff` and a sandboxing CSP.
* Names are random (`trace/<folder>/<uuid>.<ext>`); the client's file name is never used, and a stored path
  that would resolve outside the private directory is treated as missing.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import anyio

from app.catalog import images
from app.config import get_settings
from app.kit import storage
from app.traceability.errors import UnsupportedFile

IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
DOCUMENT_TYPES = {"application/pdf": "pdf", **IMAGE_TYPES}
JPEG = "image/jpeg"
PDF = "application/pdf"
EXTENSIONS = {JPEG: "jpg", PDF: "pdf"}
# Served with every private file: the browser must not guess a type, and a PDF opened from our origin runs
# in a sandbox without scripts, forms or plugins.
FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


def sniff(data: bytes) -> str | None:
    """The file's real type from its first bytes (never the name or the client's Content-Type)."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def root() -> Path:
    return get_settings().private_files_dir


def path_of(relative: str | None) -> Path | None:
    """The file's place under the private directory, or None when there is none or `relative` would leave
    it."""
    if not relative:
        return None
    base = root().resolve()
    path = (base / relative).resolve()
    return path if path.is_relative_to(base) and path != base else None


async def clean(data: bytes, allowed: dict[str, str]) -> tuple[bytes, str]:
    """(bytes to store, their content type): images re-encoded as JPEG, PDFs as sent."""
    content_type = sniff(data)
    if content_type not in allowed:
        kinds = ", ".join(sorted(set(allowed.values())))
        raise UnsupportedFile(f"Upload a file of one of these types: {kinds}.")
    if content_type == PDF:
        return data, PDF
    return await anyio.to_thread.run_sync(images.process, data), JPEG


async def store(folder: str, data: bytes, content_type: str) -> str:
    """Write cleaned bytes under a random name; returns the path relative to the private directory."""
    relative = f"trace/{folder}/{uuid.uuid4().hex}.{EXTENSIONS[content_type]}"
    path = path_of(relative)
    assert path is not None
    await anyio.to_thread.run_sync(storage.write, path, data)
    return relative


async def read(relative: str) -> bytes | None:
    path = path_of(relative)
    if path is None:
        return None
    try:
        return await anyio.Path(path).read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def download_name(stem: str, content_type: str) -> str:
    return f"{stem}.{EXTENSIONS.get(content_type, 'bin')}"
