"""Files on disk that rows point to: product images, batch event photos, certificate scans.

A file is written whole or not at all: the bytes go to a temporary name beside the target, are flushed to
the disk and renamed over it. When the disk refuses (read-only, full, gone) the temporary file is removed
and the request answers 507 `storage_unavailable` before any row points to the file.

A file is written before the row that points to it is committed, and a replaced file is no longer pointed
to, so a failed transaction or a replacement leaves a file no row names: an orphan. Nothing deletes a file
inside a request's transaction (a rollback after the delete would leave a row pointing to nothing): a file
a request stops pointing to goes once its unit of work has committed (`remove_after_commit`), and `sweep`,
run by the worker, deletes orphans once they are older than a grace period that outlasts any transaction,
and the temporary files of writes a crash interrupted.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import after_commit
from app.errors import StorageUnavailable

log = logging.getLogger(__name__)

TMP_SUFFIX = ".part"
# Older than any transaction that may still be about to commit a row pointing to the file.
ORPHAN_GRACE_SECONDS = 3600.0


def write(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically; StorageUnavailable (nothing left behind) when the disk refuses."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{TMP_SUFFIX}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            if tmp.exists():
                tmp.unlink()
        except OSError:
            log.warning("could not remove the temporary file %s", tmp)
        log.warning("file storage refused a write to %s: %s", path.parent, exc.strerror or exc)
        raise StorageUnavailable() from exc


def remove_after_commit(session: AsyncSession, path: Path | None) -> None:
    """Delete `path` once the session's unit of work has committed: a file whose row was deleted, or that
    a new upload replaced. Deleted earlier, a failed commit would leave a row pointing to nothing; if the
    commit fails it stays, for `sweep`. Nothing for None (no file, or a stored name outside its directory);
    asked twice for one path, it deletes once."""
    if path is None:
        return

    async def remove() -> None:
        await anyio.Path(path).unlink(missing_ok=True)

    after_commit(session, f"storage.remove.{path}", remove)


def sweep(root: Path, referenced: Iterable[Path], *, grace_seconds: float = ORPHAN_GRACE_SECONDS) -> int:
    """Delete the files under `root` that no row references (and interrupted writes), once older than
    `grace_seconds`; the number deleted. Files it cannot delete stay for the next run."""
    if not root.is_dir():
        return 0
    keep = {path.resolve() for path in referenced}
    cutoff = time.time() - grace_seconds
    deleted = 0
    for path in root.rglob("*"):
        try:
            if not path.is_file() or path.resolve() in keep or path.stat().st_mtime > cutoff:
                continue
            path.unlink()
            deleted += 1
        except OSError:
            log.warning("could not sweep %s", path)
    return deleted
