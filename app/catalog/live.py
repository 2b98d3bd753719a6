"""Live stock for product pages: one indexed query on every detail read, as lean as it can be.

The contract wants stock current at the next read whatever moved it (an order's atomic UPDATE, a cancellation,
a staff change), so it is never taken from the cache. On MariaDB the query goes through a small pool of plain
asyncmy connections in autocommit mode (each SELECT sees the latest committed stock; no transaction, no
SQLAlchemy checkout or pre-ping round trip). A connection that fails is dropped and the query retried once on a
fresh one. On SQLite (and if the lean path fails twice) it goes through the SQLAlchemy engine.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url

from app.catalog.models import Sku
from app.config import get_settings
from app.db import get_engine

log = logging.getLogger(__name__)

_SQL = "SELECT id, stock FROM skus WHERE product_id = %s"


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
        self._max_idle = settings.db_pool_size
        self._slots = asyncio.Semaphore(settings.db_pool_size + settings.db_max_overflow)
        self.loop = asyncio.get_running_loop()

    async def _connect(self) -> Any:
        from asyncmy import connect

        return await connect(**self._kwargs)

    async def fetch(self, product_id: int) -> dict[int, int]:
        async with self._slots:
            for attempt in (1, 2):
                conn = self._idle.pop() if self._idle and attempt == 1 else await self._connect()
                try:
                    async with conn.cursor() as cursor:
                        await cursor.execute(_SQL, (product_id,))
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
                return {int(sku_id): int(stock) for sku_id, stock in rows}
        raise AssertionError("unreachable")

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


_pool: _LeanPool | None = None


async def _via_engine(product_id: int) -> dict[int, int]:
    async with get_engine().connect() as conn:
        rows = await conn.execute(select(Sku.id, Sku.stock).where(Sku.product_id == product_id))
        return {sku_id: stock for sku_id, stock in rows.all()}


async def fetch(product_id: int) -> dict[int, int]:
    """{sku_id: stock} for every SKU of the product, as committed right now."""
    global _pool
    if get_settings().is_sqlite:
        return await _via_engine(product_id)
    if _pool is None or _pool.loop is not asyncio.get_running_loop():
        _pool = _LeanPool()
    try:
        return await _pool.fetch(product_id)
    except Exception as exc:  # noqa: BLE001 - the engine path has its own pool, retries and errors
        log.warning("lean stock read failed; using the engine", extra={"error": repr(exc)})
        return await _via_engine(product_id)


def close() -> None:
    global _pool
    if _pool is not None:
        _pool.close()
    _pool = None
