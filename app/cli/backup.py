"""`daoxiang backup FILE` and `daoxiang restore FILE`: the database and the media files in one archive.

The archive is a gzip'd tar: `manifest.json` (format, engine, schema revision, rows per table), the database
(`database.sql` from `mariadb-dump --single-transaction`, or `database.sqlite3` made with SQLite's online
backup API), and the files under MEDIA_DIR (`media/`) and PRIVATE_MEDIA_DIR (`private/`).

Both are taken while the shop runs. The dump reads one InnoDB snapshot (a consistent database without
locking writers out); SQLite's backup copies one read transaction's view (WAL: writers carry on). Files are
copied after the database, so every file the database names is there (files added meanwhile come along too).

Restore goes only into an empty database (no tables: create it, do not migrate it) and refuses otherwise,
before writing anything; media files already present with other contents are refused the same way. The
full-text index on MariaDB (Mroonga's `product_search`, not transactional, derived from the products) is
dumped without its rows and rebuilt after the restore.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import typer
from sqlalchemy import create_engine, func, inspect, select, table
from sqlalchemy.engine import URL, Engine, make_url

from app.config import get_settings
from app.db import utcnow

FORMAT = 1
DERIVED_TABLES = ("product_search",)  # rebuilt from the products after a restore (MariaDB's Mroonga index)
MEDIA_ROOTS = {"media": "media_dir", "private": "private_files_dir"}


class BackupRefused(Exception):
    """A backup or restore that cannot go ahead; the message says why, for the operator."""


# ------------------------------------------------------------------------------------------- the commands


def backup(file: Annotated[Path, typer.Argument(help="the archive to write (.tar.gz)")]) -> None:
    """Write a consistent backup of the database and the media files while the shop runs."""
    try:
        manifest = write_backup(file)
    except BackupRefused as exc:
        typer.echo(f"backup failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    tables = manifest["tables"]
    database = (
        f"{len(tables)} tables, {sum(tables.values()):,} rows"
        if tables
        else f"a {manifest['dump_bytes']:,}-byte dump of one snapshot"
    )
    typer.echo(
        f"backup written to {file}: {database}, {manifest['files']:,} media files "
        f"({file.stat().st_size:,} bytes)"
    )


def restore(file: Annotated[Path, typer.Argument(help="an archive written by `daoxiang backup`")]) -> None:
    """Restore a backup into an empty database (DATABASE_URL) and the media directories."""
    try:
        manifest = restore_backup(file)
    except BackupRefused as exc:
        typer.echo(f"restore refused: {exc}", err=True)
        raise typer.Exit(1) from exc
    rows = sum(manifest["tables"].values())
    typer.echo(
        f"restored {file} (taken {manifest['created_at']}): {len(manifest['tables'])} tables, {rows:,} rows, "
        f"{manifest['files']:,} media files"
    )


# ---------------------------------------------------------------------------------------------- backup


def write_backup(file: Path) -> dict[str, Any]:
    settings = get_settings()
    url = _sync_url(settings.database_url)
    file = file.resolve()
    file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="daoxiang-backup-", dir=file.parent) as tmp:
        work = Path(tmp)
        if url.get_backend_name() == "sqlite":
            database = work / "database.sqlite3"
            _sqlite_copy(_sqlite_path(url), database)
            tables = _row_counts(create_engine(f"sqlite:///{database}"))
        else:
            database = work / "database.sql"
            _mariadb_dump(url, database)
            tables = None  # counted by restore; a count here would not be the dump's snapshot
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "engine": url.get_backend_name(),
            "created_at": utcnow().isoformat(),
            "tables": tables if tables is not None else {},
            "dump_bytes": database.stat().st_size,
            "files": 0,
        }
        partial = work / "archive.tar.gz"
        with tarfile.open(partial, "w:gz") as archive:
            archive.add(database, arcname=database.name)
            for prefix, attribute in MEDIA_ROOTS.items():
                root = Path(getattr(settings, attribute))
                for path in _files_under(root):
                    try:
                        archive.add(path, arcname=f"{prefix}/{path.relative_to(root).as_posix()}")
                    except FileNotFoundError:
                        continue  # deleted while the shop runs (a swept upload): nothing names it any more
                    manifest["files"] += 1
            data = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size, info.mtime = len(data), int(utcnow().timestamp())
            archive.addfile(info, io.BytesIO(data))
        os.replace(partial, file)  # never a half-written archive under the operator's name
    return manifest


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: one read transaction's consistent view, writers not blocked (WAL)."""
    if not source.exists():
        raise BackupRefused(f"no database at {source}")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _mariadb_dump(url: URL, target: Path) -> None:
    derived = [f"--ignore-table-data={url.database}.{name}" for name in DERIVED_TABLES]
    with open(target, "wb") as out, _client(url, "mariadb-dump", "mysqldump") as command:
        done = subprocess.run(
            [
                *command,
                "--single-transaction",  # one consistent InnoDB snapshot; writers are not locked out
                "--skip-lock-tables",
                "--no-tablespaces",
                "--hex-blob",
                "--triggers",
                "--default-character-set=utf8mb4",
                *derived,
                url.database or "",
            ],
            stdout=out,
            stderr=subprocess.PIPE,
            check=False,
        )
    if done.returncode != 0:
        raise BackupRefused(f"mariadb-dump failed: {done.stderr.decode(errors='replace').strip()[:500]}")


def _files_under(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path


# --------------------------------------------------------------------------------------------- restore


def restore_backup(file: Path) -> dict[str, Any]:
    settings = get_settings()
    url = _sync_url(settings.database_url)
    if not file.is_file():
        raise BackupRefused(f"no such file: {file}")
    with tempfile.TemporaryDirectory(prefix="daoxiang-restore-") as tmp:
        work = Path(tmp)
        try:
            with tarfile.open(file, "r:gz") as archive:
                archive.extractall(work, filter="data")  # no absolute paths, no '..', no links out
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BackupRefused(f"{file} is not a backup archive ({exc})") from exc
        manifest = _manifest(work)
        engine = url.get_backend_name()
        if manifest["engine"] != engine:
            raise BackupRefused(f"the backup is of a {manifest['engine']} database; DATABASE_URL is {engine}")
        _refuse_unless_empty(url)
        media = _media_to_copy(work, settings)
        if engine == "sqlite":
            target = _sqlite_path(url)
            target.parent.mkdir(parents=True, exist_ok=True)
            _sqlite_copy(work / "database.sqlite3", target)
        else:
            _mariadb_load(url, work / "database.sql")
        for source, target in media:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        manifest["tables"] = _row_counts(create_engine(url))
    if engine != "sqlite":
        _rebuild_search_index()
    return manifest


def _manifest(work: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((work / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupRefused(
            "the archive has no readable manifest.json: not written by `daoxiang backup`"
        ) from exc
    if manifest.get("format") != FORMAT:
        raise BackupRefused(f"backup format {manifest.get('format')!r} is not {FORMAT}")
    return manifest


def _refuse_unless_empty(url: URL) -> None:
    if url.get_backend_name() == "sqlite":
        path = _sqlite_path(url)
        if not path.exists() or path.stat().st_size == 0:
            return
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = inspect(conn).get_table_names()
    except Exception as exc:  # noqa: BLE001 - said to the operator as it is
        raise BackupRefused(f"cannot open the target database: {exc}") from exc
    finally:
        engine.dispose()
    if tables:
        raise BackupRefused(
            f"the database {url.render_as_string(hide_password=True)} is not empty "
            f"({len(tables)} tables, such as {sorted(tables)[0]}); restore only into an empty database"
        )


def _media_to_copy(work: Path, settings: Any) -> list[tuple[Path, Path]]:
    """Every media file of the archive with where it goes; refused if any differs from a file already there."""
    pairs = []
    for prefix, attribute in MEDIA_ROOTS.items():
        root = Path(getattr(settings, attribute))
        for source in _files_under(work / prefix):
            relative = PurePosixPath(source.relative_to(work / prefix).as_posix())
            target = root.joinpath(*relative.parts)
            if target.exists():
                if target.read_bytes() != source.read_bytes():
                    raise BackupRefused(
                        f"{target} exists with other contents; restore into empty media directories"
                    )
                continue
            pairs.append((source, target))
    return pairs


def _mariadb_load(url: URL, dump: Path) -> None:
    with open(dump, "rb") as source, _client(url, "mariadb", "mysql") as command:
        done = subprocess.run(
            [*command, "--default-character-set=utf8mb4", url.database or ""],
            stdin=source,
            capture_output=True,
            check=False,
        )
    if done.returncode != 0:
        raise BackupRefused(f"loading the dump failed: {done.stderr.decode(errors='replace').strip()[:500]}")


def _rebuild_search_index() -> None:
    import asyncio

    from app.catalog import search_index
    from app.cli.common import with_cleanup
    from app.db import session_scope

    async def run() -> None:
        async with session_scope() as session:
            if await search_index.create_if_missing(session) or await search_index.kind(session) == "mroonga":
                await search_index.sync(session, full=True)

    asyncio.run(with_cleanup(run()))


# ------------------------------------------------------------------------------------------------ shared


def _sync_url(database_url: str) -> URL:
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite")
    if backend in ("mysql", "mariadb"):
        return url.set(drivername="mysql+pymysql")
    raise BackupRefused(f"backups of {backend} databases are not supported")


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupRefused("an in-memory SQLite database cannot be backed up or restored")
    return Path(url.database)


def _row_counts(engine: Engine) -> dict[str, int]:
    try:
        with engine.connect() as conn:
            names = sorted(inspect(conn).get_table_names())
            return {
                name: conn.execute(select(func.count()).select_from(table(name))).scalar_one()
                for name in names
            }
    finally:
        engine.dispose()


def _tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise BackupRefused(f"{names[0]} is not installed (the MariaDB client tools are needed)")


@contextmanager
def _client(url: URL, *names: str) -> Iterator[list[str]]:
    """The client tool's command line for `url`; the password in a private options file, not on the command
    line where `ps` shows it."""
    with tempfile.TemporaryDirectory(prefix="daoxiang-client-") as tmp:
        command = [_tool(*names)]
        if url.password:
            options = Path(tmp) / "client.cnf"
            options.write_text(f"[client]\npassword={url.password}\n", encoding="utf-8")
            options.chmod(0o600)
            command.append(f"--defaults-extra-file={options}")  # must come first
        command.append(f"--user={url.username or 'root'}")
        if url.host:
            command += [f"--host={url.host}", f"--port={url.port or 3306}", "--protocol=TCP"]
        socket = url.query.get("unix_socket")
        if isinstance(socket, str):
            command.append(f"--socket={socket}")
        yield command
