"""Artwork proofs: a company's logo and packaging before it is approved, so private (PRIVATE_FILES_DIR, served
only to the company and staff). Accepted: PDF (kept as sent, served as an attachment in a sandbox) and PNG,
JPEG or WebP (re-encoded as JPEG exactly like product images: EXIF and trailing payloads dropped); the type
is sniffed from the bytes, as traceability does for certificate scans."""

from __future__ import annotations

import uuid

import anyio

from app.catalog import images
from app.config import get_settings
from app.gifts.errors import UnsupportedFile
from app.kit import storage
from app.traceability import files as trace_files

ACCEPTED = {trace_files.PDF, "image/png", trace_files.JPEG, "image/webp"}
MAX_BYTES = 8 * 1024 * 1024


async def clean(data: bytes) -> tuple[bytes, str]:
    if len(data) > MAX_BYTES:
        raise UnsupportedFile(f"A proof may be at most {MAX_BYTES // (1024 * 1024)} MB.")
    content_type = trace_files.sniff(data)
    if content_type not in ACCEPTED:
        raise UnsupportedFile("Upload the proof as a PDF, PNG, JPEG or WebP file.")
    if content_type == trace_files.PDF:
        return data, content_type
    return await anyio.to_thread.run_sync(images.process, data), trace_files.JPEG


async def store(request_id: int, data: bytes, content_type: str) -> str:
    relative = f"custom/{request_id}/{uuid.uuid4().hex}.{trace_files.EXTENSIONS[content_type]}"
    path = get_settings().private_files_dir / relative
    await anyio.to_thread.run_sync(storage.write, path, data)
    return relative


async def read(relative: str) -> bytes | None:
    base = get_settings().private_files_dir.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base):
        return None
    try:
        return await anyio.Path(path).read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
