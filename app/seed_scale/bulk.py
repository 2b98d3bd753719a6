"""Bulk loading for seed-scale: multi-row INSERTs of `CHUNK` rows, each chunk in its own transaction (the
ORM is bypassed: a million ORM objects would take hours), the run's report, and fresh statistics after."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import get_engine

CHUNK = 2000
Progress = Callable[[str, int, int], None]


@dataclass
class ScaleReport:
    products: int = 0
    skus: int = 0
    users: int = 0
    orders: int = 0
    order_items: int = 0
    codes: int = 0
    seconds: float = 0.0


def chunks(rows: Iterator[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def max_id(conn: AsyncConnection, table: Table) -> int:
    return int((await conn.execute(select(func.coalesce(func.max(table.c.id), 0)))).scalar_one())


async def bulk(
    table: Table, rows: Iterator[dict[str, Any]], total: int, label: str, progress: Progress
) -> list[int]:
    """Insert `rows` chunk by chunk; the new ids in insertion order."""
    ids: list[int] = []
    done = 0
    engine = get_engine()
    for chunk in chunks(rows):
        async with engine.begin() as conn:
            before = await max_id(conn, table)
            await conn.execute(insert(table), chunk)
            new = await conn.execute(select(table.c.id).where(table.c.id > before).order_by(table.c.id))
            ids.extend(int(i) for i in new.scalars().all())
        done += len(chunk)
        progress(label, done, total)
    return ids


def ago(rng: random.Random, now: datetime, days: float) -> datetime:
    return now - timedelta(seconds=rng.uniform(0, days * 86400))


async def bulk_no_ids(
    table: Table, rows: Iterator[dict[str, Any]], total: int, label: str, progress: Progress
):
    done = 0
    for chunk in chunks(rows, CHUNK * 2):
        async with get_engine().begin() as conn:
            await conn.execute(insert(table), chunk)
        done += len(chunk)
        progress(label, done, total)


_ANALYZED = [
    "products",
    "skus",
    "users",
    "orders",
    "order_items",
    "order_history",
    "trace_codes",
    "batch_allocations",
    "batches",
    "certificates",
]


async def rebuild_statistics() -> None:
    """Fresh index statistics after a bulk load, so the optimiser plans for the table's real size."""
    engine = get_engine()
    if engine.dialect.name != "mysql":
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
        return
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE TABLE " + ", ".join(_ANALYZED)))
