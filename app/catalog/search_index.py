"""The full-text index behind product search (issue 18): which one this database has, the query for it,
and keeping it in step with the products.

The products' own search columns (`search_name`, `search_subtitle`, `search_body`, see app.catalog.search)
stay the truth; the index is derived from them.

* SQLite: FTS5, trigram tokenizer (`product_fts`, migration `search_index`). Triggers keep it in step inside
  the writing transaction, so a rolled-back write never reaches it. A trigram index cannot look up a word
  of fewer than 3 characters: when every query word is that short, the search looks at the
  `SHORT_QUERY_ROWS` best-selling rows only (a bounded fallback).
* MariaDB with Mroonga: `product_search`, one row per product (status, sales, the three texts) with one
  FULLTEXT index, bigrams over every character (`TokenBigramSplitSymbolAlphaDigit`), so a word is found as
  a substring in Chinese, pinyin and initials alike, even of one or two characters. Mroonga storage is not
  transactional, so nothing writes it inside a transaction: a flush that touched products notes their ids,
  and once the transaction has committed (app.db.after_commit) their rows are rebuilt from the committed
  products (`refresh`) and the catalogue cache version moves again, dropping any page built from the index
  between the commit and the rebuild. A rolled-back write never runs the hook, so it never shows. What a
  hook cannot see (sales counted by orders with a plain UPDATE, bulk inserts, a hook that failed) the
  worker's `catalog.sync_search_index` job finds and rebuilds every few minutes, and
  `daoxiang search-index --full` rebuilds everything. The page shown is read from `products` again with its
  status filter, so a row the index has not caught up with can never show an unpublished product.
* Anything else (MariaDB without the plugin, MySQL): no index; search runs LIKE over the search columns,
  a full scan, and this module logs that once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    column,
    event,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.dialects.mysql import match
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session

from app.catalog import cache
from app.catalog.models import Product
from app.db import after_commit, get_engine, session_scope

log = logging.getLogger(__name__)

Kind = Literal["mroonga", "fts5", "like"]

# Not in app.db's metadata: the table exists only where the engine does, and is no ORM model.
SEARCH = Table(
    "product_search",
    MetaData(),
    Column("product_id", BigInteger, primary_key=True),
    Column("status", String(16)),
    Column("sales_count", Integer),
    Column("name", Text),
    Column("subtitle", Text),
    Column("body", Text),
)
FTS_TABLE = "product_fts"


def is_index_table(name: str) -> bool:
    """The index's own tables (FTS5 keeps shadow tables beside product_fts), which no ORM model describes."""
    return name == "product_search" or name == FTS_TABLE or name.startswith(FTS_TABLE + "_")


# A word in the name weighs more than one in the subtitle, more than one only in the description (as in
# the LIKE search's score). Mroonga's sections count from 1 in the FULLTEXT index's column order.
_WEIGHTS = "*W1:100,2:10,3:1"
TRIGRAM = 3
SHORT_QUERY_ROWS = 5000
SYNC_CHUNK = 5000

_kinds: dict[str, Kind] = {}


def _engine_of(session: AsyncSession | AsyncConnection) -> Any:
    return session.get_bind() if isinstance(session, AsyncSession) else session.engine


async def kind(session: AsyncSession | AsyncConnection) -> Kind:
    """Which index this database has (asked once per database)."""
    engine = _engine_of(session)
    key = str(engine.url)
    found = _kinds.get(key)
    if found is not None:
        return found
    if engine.dialect.name == "sqlite":
        row = await session.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"), {"name": FTS_TABLE}
        )
        found = "fts5" if row.first() else "like"
    else:
        row = await session.execute(
            text(
                "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                "AND TABLE_NAME = 'product_search' AND ENGINE = 'Mroonga'"
            )
        )
        found = "mroonga" if row.first() else "like"
    if found == "like":
        log.warning(
            "no full-text index for products on %s (Mroonga missing?): search scans with LIKE",
            engine.dialect.name,
        )
    _kinds[key] = found
    return found


def forget() -> None:
    """Ask again on the next search (tests that add or drop the index)."""
    _kinds.clear()


# ---------------------------------------------------------------- queries


def mroonga_query(terms: Sequence[str]) -> str | None:
    """The boolean-mode query for Mroonga: every word a quoted phrase (a substring under bigrams), none of
    the query syntax left to the shopper. None when a word is left empty (it can match nothing)."""
    phrases = []
    for term in terms:
        word = term.replace("\x00", "")
        if not word:
            return None
        phrases.append('+"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return _WEIGHTS + " " + " ".join(phrases)


def mroonga_match(query: str) -> Any:
    return match(SEARCH.c.name, SEARCH.c.subtitle, SEARCH.c.body, against=query).in_boolean_mode()


def fts_query(terms: Sequence[str]) -> str | None:
    """The FTS5 query over the words long enough for the trigram index (each a quoted phrase: a
    substring); None when every word is shorter."""
    phrases = [
        '"' + word.replace('"', '""') + '"'
        for word in (term.replace("\x00", "") for term in terms)
        if len(word) >= TRIGRAM
    ]
    return " AND ".join(phrases) if phrases else None


def fts_ids(query: str) -> Any:
    """Product ids whose search columns hold every phrase of `query` (a subquery)."""
    fts = table(FTS_TABLE, column("rowid"))
    return select(fts.c.rowid).where(literal_column(FTS_TABLE).op("MATCH")(bindparam("fts_query", query)))


def ranked_ids(query: str, *, status: str, cap: int) -> tuple[Any, Any]:
    """(ids in rank order, count) straight from the Mroonga table: relevance, then sales, then newest."""
    hit = mroonga_match(query)
    where = (hit, SEARCH.c.status == status)
    ids = (
        select(SEARCH.c.product_id)
        .where(*where)
        .order_by(hit.desc(), SEARCH.c.sales_count.desc(), SEARCH.c.product_id.desc())
    )
    # Counted up to the list's cap (repository.LIST_COUNT_CAP + 1 hits, passed in): Mroonga reads every hit
    # to count them, so an exact count of a common word cost more than the page itself.
    count = select(func.count()).select_from(
        select(SEARCH.c.product_id).where(*where).limit(cap + 1).subquery()
    )
    return ids, count


# ---------------------------------------------------------------- keeping it in step (Mroonga)

_REFRESH = text(
    "REPLACE INTO product_search (product_id, status, sales_count, name, subtitle, body) "
    "SELECT id, status, sales_count, search_name, search_subtitle, search_body FROM products "
    "WHERE id IN :ids"
).bindparams(bindparam("ids", expanding=True))
_DROP_GONE = text(
    "DELETE FROM product_search WHERE product_id IN :ids "
    "AND product_id NOT IN (SELECT id FROM products WHERE id IN :ids)"
).bindparams(bindparam("ids", expanding=True))
_OUT_OF_STEP = text(
    "SELECT p.id FROM products p LEFT JOIN product_search s ON s.product_id = p.id "
    "WHERE p.id > :after AND p.id <= :upto AND (s.product_id IS NULL OR s.status <> p.status "
    "OR s.sales_count <> p.sales_count OR s.name <> p.search_name OR s.subtitle <> p.search_subtitle "
    "OR s.body <> p.search_body)"
)
_ORPHANS = text(
    "SELECT s.product_id FROM product_search s LEFT JOIN products p ON p.id = s.product_id "
    "WHERE p.id IS NULL LIMIT 10000"
)


async def refresh(conn: AsyncConnection | AsyncSession, ids: Iterable[int]) -> None:
    """Rebuild these products' rows from what is committed (a product gone loses its row)."""
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), SYNC_CHUNK):
        chunk = wanted[start : start + SYNC_CHUNK]
        await conn.execute(_REFRESH, {"ids": chunk})
        await conn.execute(_DROP_GONE, {"ids": chunk})


async def sync(conn: AsyncConnection | AsyncSession, *, full: bool = False) -> int:
    """Find the rows out of step with their products (all of them with `full`) and rebuild them; returns
    how many. Reads the products in primary-key chunks, so it never holds much at once."""
    if await kind(conn) != "mroonga":
        return 0
    top = (await conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM products"))).scalar_one()
    fixed = 0
    for after in range(0, int(top), SYNC_CHUNK):
        bounds = {"after": after, "upto": after + SYNC_CHUNK}
        if full:
            ids = (
                await conn.execute(text("SELECT id FROM products WHERE id > :after AND id <= :upto"), bounds)
            ).scalars()
        else:
            ids = (await conn.execute(_OUT_OF_STEP, bounds)).scalars()
        chunk = [int(i) for i in ids]
        if chunk:
            await refresh(conn, chunk)
            fixed += len(chunk)
    gone = [int(i) for i in (await conn.execute(_ORPHANS)).scalars()]
    if gone:
        await refresh(conn, gone)
        fixed += len(gone)
    return fixed


# The same as migration search_index creates (for a database migrated before Mroonga was enabled).
_MROONGA_TABLE = """
CREATE TABLE IF NOT EXISTS product_search (
    product_id BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    sales_count INT NOT NULL,
    name TEXT NOT NULL,
    subtitle TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (product_id),
    KEY ix_product_search_status (status),
    FULLTEXT KEY ft_product_search (name, subtitle, body)
        COMMENT 'tokenizer "TokenBigramSplitSymbolAlphaDigit", normalizer "NormalizerAuto"'
) ENGINE=Mroonga DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
"""


async def create_if_missing(conn: AsyncConnection | AsyncSession) -> bool:
    """On MariaDB with Mroonga enabled but no index table (migrated before the plugin was): create it
    (filled by `sync(full=True)`). True when it did."""
    if await kind(conn) != "like" or _engine_of(conn).dialect.name != "mysql":
        return False
    engines = await conn.execute(
        text(
            "SELECT 1 FROM information_schema.ENGINES WHERE ENGINE = 'Mroonga' AND SUPPORT IN ('YES', 'DEFAULT')"
        )
    )
    if engines.first() is None:
        return False
    await conn.execute(text(_MROONGA_TABLE))
    forget()
    return True


async def clear(conn: AsyncConnection) -> None:
    """Empty the index (tests empty every table between tests). TRUNCATE, not DELETE: Mroonga takes each
    deleted row out of the inverted index one by one (minutes for a seeded shop); TRUNCATE commits what the
    connection had open."""
    if await kind(conn) == "mroonga":
        await conn.execute(text("TRUNCATE TABLE product_search"))


_PENDING = "search_index_pending"


async def _refresh_committed(ids: set[int]) -> None:
    async with get_engine().begin() as conn:  # its own short transaction, after the write's commit
        if await kind(conn) != "mroonga":
            return
        await refresh(conn, ids)
    # Pages built between the commit and the line above may hold the index's old answer: drop them.
    async with session_scope() as session:
        cache.invalidate(session)


@event.listens_for(Session, "after_flush")
def _note_touched_products(session: Session, _flush_context: Any) -> None:
    bind = session.bind
    if bind is None or bind.dialect.name != "mysql":
        return  # SQLite's index follows by trigger, in the same transaction
    touched = {
        obj.id
        for group in (session.new, session.dirty, session.deleted)
        for obj in group
        if isinstance(obj, Product) and obj.id is not None
    }
    if not touched:
        return
    pending: set[int] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = set()

        async def hook() -> None:
            ids = session.info.pop(_PENDING, set())
            if ids:
                await _refresh_committed(ids)

        after_commit(session, _PENDING, hook)  # type: ignore[arg-type]  # it only uses session.info
    pending.update(touched)


@event.listens_for(Session, "after_soft_rollback")
def _forget_touched_products(session: Session, _previous_transaction: Any) -> None:
    # Nothing to rebuild for a rolled-back unit of work (app.db drops its hooks too).
    if not session.in_transaction():
        session.info.pop(_PENDING, None)
