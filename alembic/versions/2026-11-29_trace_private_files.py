"""trace_private_files: certificate scans and event photos leave the public media tree

Until now both were written under MEDIA_DIR/trace/, which is served as it is at /media/ (a certificate scan was
reachable without logging in), and event photos were kept byte for byte (GPS EXIF, anything appended). This
moves every such file under PRIVATE_MEDIA_DIR (served only by routes that decide who may see it) and re-encodes
every image on the way, exactly as uploads now are (app.catalog.images.process: EXIF dropped, trailing bytes
gone). PDFs move as they are.

No table changes: the rows' paths become relative to the private directory. Running it again finds nothing
left to move. A stored image that does not decode is not published: its row loses the file and the original
is kept under PRIVATE_MEDIA_DIR/trace/quarantine/ for staff to look at.

Revision ID: trace_private_files
Revises: address_provinces
Create Date: 2026-11-29 10:00:00.000000
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision: str = "trace_private_files"
down_revision: str | Sequence[str] | None = "address_provinces"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

PDF_MAGIC = b"%PDF-"


def _inside(base: Path, relative: str) -> Path | None:
    base = base.resolve()
    path = (base / relative).resolve()
    return path if path.is_relative_to(base) and path != base else None


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _clean(data: bytes, *, pdf_allowed: bool) -> tuple[bytes, str] | None:
    """(bytes, content type) to keep, or None when the file is no image (nor an allowed PDF)."""
    from app.catalog import images

    if pdf_allowed and data.startswith(PDF_MAGIC):
        return data, "application/pdf"
    try:
        return images.process(data), "image/jpeg"
    except Exception:  # noqa: BLE001 - anything that does not decode is quarantined, never published
        return None


def relocate(connection: Connection, media_dir: Path, private_dir: Path) -> dict[str, int]:
    """Move (and re-encode) every event photo and certificate file still under `media_dir`."""
    moved = {"photos": 0, "certificates": 0, "quarantined": 0}
    photos = connection.execute(
        sa.text("SELECT id, photo_path FROM batch_events WHERE photo_path IS NOT NULL")
    ).all()
    certificates = connection.execute(
        sa.text("SELECT id, file_path FROM certificates WHERE file_path IS NOT NULL")
    ).all()
    for table, column, rows, folder, pdf_allowed in (
        ("batch_events", "photo_path", photos, "photos", False),
        ("certificates", "file_path", certificates, "certificates", True),
    ):
        for row_id, relative in rows:
            source = _inside(media_dir, relative)
            if source is None or not source.is_file():
                continue  # already moved (or lost before this migration: nothing to publish either way)
            data = source.read_bytes()
            cleaned = _clean(data, pdf_allowed=pdf_allowed)
            if cleaned is None:
                _write(private_dir / "trace" / "quarantine" / f"{uuid.uuid4().hex}.bin", data)
                values = {"path": None, "id": row_id}
                extra = ", file_content_type = NULL" if table == "certificates" else ""
                connection.execute(
                    sa.text(f"UPDATE {table} SET {column} = :path{extra} WHERE id = :id"),  # noqa: S608 - constants
                    values,
                )
                moved["quarantined"] += 1
            else:
                content, content_type = cleaned
                new_relative = (
                    f"trace/{folder}/{uuid.uuid4().hex}.{'pdf' if content_type.endswith('pdf') else 'jpg'}"
                )
                _write(private_dir / new_relative, content)
                values = {"path": new_relative, "type": content_type, "id": row_id}
                extra = ", file_content_type = :type" if table == "certificates" else ""
                connection.execute(
                    sa.text(f"UPDATE {table} SET {column} = :path{extra} WHERE id = :id"),  # noqa: S608 - constants
                    values,
                )
                moved[folder] += 1
            source.unlink()
    if any(moved.values()):
        log.info("trace files moved out of MEDIA_DIR: %s", moved)
    return moved


def restore(connection: Connection, media_dir: Path, private_dir: Path) -> None:
    """Downgrade: put the files back under `media_dir` (re-encoded images stay re-encoded)."""
    for table, column in (("batch_events", "photo_path"), ("certificates", "file_path")):
        rows = connection.execute(
            sa.text(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL")  # noqa: S608 - constants
        ).all()
        for _row_id, relative in rows:
            source, target = _inside(private_dir, relative), _inside(media_dir, relative)
            if source is None or target is None or not source.is_file():
                continue
            _write(target, source.read_bytes())
            source.unlink()


def _dirs() -> tuple[Path, Path]:
    from app.config import get_settings

    settings = get_settings()
    return settings.media_dir, settings.private_files_dir


def upgrade() -> None:
    relocate(op.get_bind(), *_dirs())


def downgrade() -> None:
    restore(op.get_bind(), *_dirs())
