"""What a catalogue read takes from the database every time: the catalogue version and, on a product page,
the live stock of its SKUs. One indexed query per request, as lean as it can be.

The contract wants stock current at the next read whatever moved it (an order's atomic UPDATE, a cancellation,
a staff change), so it is never taken from the cache; the version says which cached pages are still current
(see app.catalog.cache). On MariaDB the query goes through app.kit.leandb's plain asyncmy connections in
autocommit mode (each SELECT sees the latest commit; no transaction, no SQLAlchemy checkout or pre-ping round
trip); a connection that fails is dropped and the query retried once. On SQLite (and if the lean path fails
twice) it goes through the SQLAlchemy engine.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text

from app.db import get_engine
from app.kit import leandb
from app.kit.faults import is_disconnect

log = logging.getLogger(__name__)

_VERSION_SQL = "SELECT version FROM catalog_version WHERE id = 1"
# One row per SKU (or one row with NULLs when the product has none); no rows when the version row is missing.
_DETAIL_SQL = (
    "SELECT v.version, s.id, s.stock FROM catalog_version v "
    "LEFT JOIN skus s ON s.product_id = %s WHERE v.id = 1"
)


async def _via_engine(sql: str, args: tuple[Any, ...]) -> tuple[tuple[Any, ...], ...]:
    names = {f"a{i}": value for i, value in enumerate(args)}
    statement = text(sql % tuple(f":a{i}" for i in range(len(args))))
    async with get_engine().connect() as conn:
        return tuple(tuple(row) for row in (await conn.execute(statement, names)).all())


async def _fetch(sql: str, args: tuple[Any, ...] = ()) -> tuple[tuple[Any, ...], ...]:
    pool = leandb.get_pool()
    if pool is None:
        return await _via_engine(sql, args)
    for attempt in (1, 2):  # a connection that died while idle is dropped by the pool: try a fresh one
        try:
            async with pool.cursor() as cursor:
                await cursor.execute(sql, args or None)
                return await cursor.fetchall()
        except Exception as exc:  # noqa: BLE001 - the engine path has its own pool, retries and errors
            if attempt == 2:
                if is_disconnect(exc):
                    raise  # a fresh connection failed too: the database is unreachable (503), not the pool
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
