"""What a catalogue read takes from the database every time: the catalogue version and, on a product page,
the live stock of its SKUs. One indexed query per request, as lean as it can be.

The contract wants stock current at the next read whatever moved it (an order's atomic UPDATE, a cancellation,
a staff change), so it is never taken from the cache; the version says which cached pages are still current
(see app.catalog.cache). On MariaDB the query goes through a small pool of plain asyncmy connections in
autocommit mode (each SELECT sees the latest commit; no transaction, no SQLAlchemy checkout or pre-ping round
trip). A connection that fails is dropped and the query retried once on a fresh one. On SQLite (and if the
lean path fails twice) it goes through the SQLAlchemy engine.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.config import get_settings
from app.db import get_engine

log = logging.getLogger(__name__)

_VERSION_SQL = "SELECT version FROM catalog_version WHERE id = 1"
# One row per SKU (or one row with NULLs when the product has none); no rows when the version row is missing.
_DETAIL_SQL = (
    "SELECT v.version, s.id, s.stock FROM catalog_version v "
    "LEFT JOIN skus s ON s.product_id = %s WHERE v.id = 1"
)


class _LeanPool:
    def __init__(self) -> None:
        settings = get_settings()
        url = make_url(settings.database_url)
        self._kwargs: dict[str, Any] = {
            "host": url.host or "127.0.0.1",
            "port": url.port or 3306,
            "user": url.username or "root",
            "password": url.password or "",
            "db": url.database,
            "charset": "utf8mb4",
            "autocommit": True,
            "connect_timeout": 5,
        }
        self._idle: list[Any] = []
        # Every connection is kept: closing and reopening them under a burst is what made the slow tail.
        self._max_idle = settings.db_pool_size + settings.db_max_overflow
        self._slots = asyncio.Semaphore(self._max_idle)
        self.loop = asyncio.get_running_loop()

    async def _connect(self) -> Any:
        from asyncmy import connect

        return await connect(**self._kwargs)

    async def fetch(self, sql: str, args: tuple[Any, ...]) -> tuple[tuple[Any, ...], ...]:
        async with self._slots:
            for attempt in (1, 2):
                conn = self._idle.pop() if self._idle and attempt == 1 else await self._connect()
                try:
                    async with conn.cursor() as cursor:
                        await cursor.execute(sql, args or None)
                        rows = await cursor.fetchall()
                except Exception:
                    conn.close()
                    if attempt == 2:
                        raise
                    continue
                if len(self._idle) < self._max_idle:
                    self._idle.append(conn)
                else:
                    conn.close()
                return rows
        raise AssertionError("unreachable")

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


_pool: _LeanPool | None = None


async def _via_engine(sql: str, args: tuple[Any, ...]) -> tuple[tuple[Any, ...], ...]:
    names = {f"a{i}": value for i, value in enumerate(args)}
    statement = text(sql % tuple(f":a{i}" for i in range(len(args))))
    async with get_engine().connect() as conn:
        return tuple(tuple(row) for row in (await conn.execute(statement, names)).all())


async def _fetch(sql: str, args: tuple[Any, ...] = ()) -> tuple[tuple[Any, ...], ...]:
    global _pool
    if get_settings().is_sqlite:
        return await _via_engine(sql, args)
    if _pool is None or _pool.loop is not asyncio.get_running_loop():
        _pool = _LeanPool()
    try:
        return await _pool.fetch(sql, args)
    except Exception as exc:  # noqa: BLE001 - the engine path has its own pool, retries and errors
        log.warning("lean catalogue read failed; using the engine", extra={"error": repr(exc)})
        return await _via_engine(sql, args)


async def version() -> int:
    """The catalogue version as committed right now (the row is put back if someone deleted it)."""
    rows = await _fetch(_VERSION_SQL)
    if not rows:
        from app.catalog.cache import ensure_version_row

        await ensure_version_row()
        rows = await _fetch(_VERSION_SQL)
    return int(rows[0][0])


async def version_and_stock(product_id: int) -> tuple[int, dict[int, int]]:
    """(catalogue version, {sku_id: stock} for every SKU of the product), both as committed right now."""
    rows = await _fetch(_DETAIL_SQL, (product_id,))
    if not rows:
        from app.catalog.cache import ensure_version_row

        await ensure_version_row()
        rows = await _fetch(_DETAIL_SQL, (product_id,))
    return int(rows[0][0]), {int(sku_id): int(stock) for _, sku_id, stock in rows if sku_id is not None}


def close() -> None:
    global _pool
    if _pool is not None:
        _pool.close()
    _pool = None
