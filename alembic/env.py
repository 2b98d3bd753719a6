"""Alembic runs on our async engine; SQLite gets batch mode so ALTERs work there too."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import app.models  # noqa: F401  (registers every table)
from app.catalog.search_index import is_index_table
from app.config import get_settings
from app.db import Base, build_engine

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.attributes.get("database_url") or get_settings().database_url


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    """Autogenerate leaves the full-text index alone: its tables are made by hand (migration search_index)."""
    return not (type_ == "table" and name is not None and is_index_table(name))


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=include_name,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=False,
        user_module_prefix="app.db.",
    )


def _run_sync(connection: Connection) -> None:
    # SQLite's batch mode rebuilds a table (copy, DROP, rename) to alter it; with foreign keys on, the DROP
    # deletes every row that references it through ON DELETE CASCADE (adding a column to `users` emptied
    # `addresses`). Keys are off while migrating (the pragma only works outside a transaction) and checked after.
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    try:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left rows pointing at missing rows: {broken[:10]}")
    finally:
        if sqlite:
            connection.commit()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


async def _run_async() -> None:
    engine = build_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync)
    await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=_url().startswith("sqlite"),
        user_module_prefix="app.db.",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_sync(connection)
    else:
        asyncio.run(_run_async())
