"""Migrations are the only way the schema changes: they must go up, down and up again, and match the models."""

from __future__ import annotations

import anyio
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.catalog import search_index
from app.catalog.search_index import is_index_table
from app.cli import alembic_config
from app.db import Base, get_engine


def _diff(connection) -> list:
    def include_name(name, type_, _parents) -> bool:
        return not (type_ == "table" and is_index_table(name))

    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": include_name}
    )
    return compare_metadata(context, Base.metadata)


class TestMigrations:
    async def test_down_to_base_and_up_again_without_drift(self):
        config = alembic_config()
        await anyio.to_thread.run_sync(command.downgrade, config, "base")
        async with get_engine().connect() as conn:
            tables = await conn.run_sync(lambda c: c.dialect.get_table_names(c))
        assert set(tables) <= {"alembic_version"}
        await anyio.to_thread.run_sync(command.upgrade, config, "head")
        search_index.forget()
        async with get_engine().connect() as conn:
            assert await conn.run_sync(_diff) == []
