"""Orders per Beijing day and status, maintained by the writes: the dashboard's sales per day and orders by
status read a few hundred rows instead of counting a million orders (issue 18).

How they stay right:

* An order placed by checkout is its own "placed" figure: it is written with `stats_counted` false and
  counts as one order in pending_payment on its Beijing day until `fold` counts it (no row of its own: a
  checkout writes nothing for the dashboard). Every other write that places an order or changes its status
  adds OrderStatDelta rows **in the same transaction** (app.orders.state.transition, seed-scale): an order
  and its count commit or roll back together, so there is no lag and nothing to replay.
* Appended rows, not `UPDATE counter SET n = n + 1`: one counter row per day would make every checkout of
  the day queue on its lock until commit, and the timeout job (many orders in one transaction) could
  deadlock against checkouts over it. Inserts take no such lock.
* `fold` (worker job `orders.fold_stats`, every tick) counts the uncounted orders and moves the deltas into
  OrderDayStat, each order marked counted (each delta deleted) in the transaction that adds it, so the sum
  is the same before and after. Readers add the uncounted orders and the deltas not folded yet: the
  figures are exact at any moment; only the number of rows a read sums grows if the worker stops (one per
  order placed or moved since).
* `repair` (`daoxiang recount-order-stats`) recounts every order from scratch and writes the difference
  as one more delta per (day, status): run after editing orders by hand or bulk loads that bypass the app.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    case,
    delete,
    false,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.time import SHOP_TZ
from app.orders.models import Order, OrderDayStat, OrderStatDelta, OrderStatus

Key = tuple[date, str]
FOLD_LIMIT = 20_000
# The status an order placed by checkout counts in until it is counted (every checkout places it so).
PLACED_STATUS = OrderStatus.pending_payment.value
# Beijing has kept UTC+8 since 1991: a Beijing day in SQL is the UTC time plus eight hours.
BEIJING_HOURS = 8
assert SHOP_TZ.utcoffset(datetime(2026, 1, 1)) == timedelta(hours=BEIJING_HOURS)
RECOUNT_CHUNK = 20_000


def day_of(created_at: datetime) -> date:
    return created_at.astimezone(SHOP_TZ).date()


def placed(created_at: datetime, status: str, total_fen: int) -> list[dict[str, Any]]:
    """The delta rows of a new order."""
    return [{"day": day_of(created_at), "status": str(status), "orders": 1, "total_fen": int(total_fen)}]


def moved(created_at: datetime, total_fen: int, from_status: str, to_status: str) -> list[dict[str, Any]]:
    """The delta rows of an order leaving `from_status` for `to_status`."""
    day = day_of(created_at)
    return [
        {"day": day, "status": str(from_status), "orders": -1, "total_fen": -int(total_fen)},
        {"day": day, "status": str(to_status), "orders": 1, "total_fen": int(total_fen)},
    ]


def summed(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Delta rows added up per (day, status): one row each (for bulk writes)."""
    sums: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        entry = sums[(row["day"], row["status"])]
        entry[0] += row["orders"]
        entry[1] += row["total_fen"]
    return [{"day": d, "status": s, "orders": n, "total_fen": t} for (d, s), (n, t) in sorted(sums.items())]


async def add(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(OrderStatDelta.__table__), rows)


def _is_mysql(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "mysql"


def _upsert_added(session: AsyncSession, rows: list[dict[str, Any]]) -> Any:
    """INSERT the rows, or add their figures to the rows already there."""
    table = OrderDayStat.__table__
    if _is_mysql(session):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        stmt = mysql_insert(table).values(rows)
        return stmt.on_duplicate_key_update(
            orders=table.c.orders + stmt.inserted.orders,
            total_fen=table.c.total_fen + stmt.inserted.total_fen,
        )
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    stmt = sqlite_insert(table).values(rows)
    return stmt.on_conflict_do_update(
        index_elements=[table.c.day, table.c.status],
        set_={
            "orders": table.c.orders + stmt.excluded.orders,
            "total_fen": table.c.total_fen + stmt.excluded.total_fen,
        },
    )


async def fold(session: AsyncSession, limit: int = FOLD_LIMIT) -> int:
    """Move up to `limit` deltas into OrderDayStat; how many were folded. The deltas are locked (SKIP
    LOCKED: a second worker folds others, an open checkout's row waits for the next run) and deleted in
    this transaction, so no delta is counted twice or lost."""
    if not _is_mysql(session):  # SQLite: one writer at a time anyway
        return await _fold(session, limit)
    # READ COMMITTED: the locking read takes no gap locks, so checkouts appending deltas never wait on a
    # fold. One fold at a time (a named lock; a second worker finds it taken and leaves): two folds
    # upserting the same day's rows deadlocked in InnoDB even in key order.
    await session.connection(execution_options={"isolation_level": "READ COMMITTED"})
    if not (await session.execute(text("SELECT GET_LOCK('daoxiang.fold_order_stats', 0)"))).scalar():
        return 0
    try:
        return await _fold(session, limit)
    finally:
        # Released before the commit: a fold that starts now skips (or waits for) these locked deltas.
        await session.execute(text("DO RELEASE_LOCK('daoxiang.fold_order_stats')"))


async def _fold(session: AsyncSession, limit: int) -> int:
    return await _fold_orders(session, limit) + await _fold_deltas(session, limit)


async def _fold_orders(session: AsyncSession, limit: int) -> int:
    """Count up to `limit` orders placed by checkout, marked counted in this transaction. On MariaDB the
    orders of checkouts still running (and any order another transaction holds) are skipped, not waited
    for: their flag is still false, so the next fold counts them."""
    orders = Order.__table__
    stmt = (
        select(orders.c.id, orders.c.created_at, orders.c.total_fen)
        .where(orders.c.stats_counted == false())
        .order_by(orders.c.id)
        .limit(limit)
    )
    if _is_mysql(session):
        stmt = stmt.with_for_update(skip_locked=True)
    rows = (await session.execute(stmt)).all()
    if not rows:
        return 0
    placed_rows = (
        {"day": day_of(created_at), "status": PLACED_STATUS, "orders": 1, "total_fen": int(total)}
        for _id, created_at, total in rows
    )
    await session.execute(_upsert_added(session, summed(placed_rows)))
    ids = [row[0] for row in rows]
    for start in range(0, len(ids), 5000):
        await session.execute(
            update(orders)
            .where(orders.c.id.in_(ids[start : start + 5000]))
            .values(stats_counted=True, updated_at=orders.c.updated_at)  # not a change of the order
        )
    return len(rows)


async def _fold_deltas(session: AsyncSession, limit: int) -> int:
    deltas = OrderStatDelta.__table__
    stmt = select(deltas.c.id, deltas.c.day, deltas.c.status, deltas.c.orders, deltas.c.total_fen).order_by(
        deltas.c.id
    )
    stmt = stmt.limit(limit)
    if _is_mysql(session):
        stmt = stmt.with_for_update(skip_locked=True)
    rows = (await session.execute(stmt)).all()
    if not rows:
        return 0
    # Keys in one order (summed sorts them), so two folds never wait on each other in a cycle.
    await session.execute(_upsert_added(session, summed(row._mapping for row in rows)))
    ids = [row[0] for row in rows]
    for start in range(0, len(ids), 5000):
        await session.execute(delete(deltas).where(deltas.c.id.in_(ids[start : start + 5000])))
    return len(rows)


def _beijing_day(session: AsyncSession, created_at: Any) -> Any:
    """SQL: the Beijing day of a naive-UTC DATETIME column (day_of in the database)."""
    if _is_mysql(session):
        return func.date(func.date_add(created_at, text(f"INTERVAL {BEIJING_HOURS} HOUR")))
    return func.date(created_at, f"+{BEIJING_HOURS} hours")


def _all_figures(session: AsyncSession) -> Any:
    """Every figure row: the folded ones, the deltas not folded yet, and the orders not counted yet."""
    stats, deltas, orders = OrderDayStat.__table__, OrderStatDelta.__table__, Order.__table__
    return union_all(
        select(stats.c.day, stats.c.status, stats.c.orders, stats.c.total_fen),
        select(deltas.c.day, deltas.c.status, deltas.c.orders, deltas.c.total_fen),
        select(
            _beijing_day(session, orders.c.created_at).label("day"),
            literal(PLACED_STATUS).label("status"),
            literal(1).label("orders"),
            orders.c.total_fen,
        ).where(orders.c.stats_counted == false()),
    ).subquery()


async def current(session: AsyncSession) -> dict[Key, tuple[int, int]]:
    """Every (day, status) figure as the dashboard sees it (folded + not folded yet); zeros left out."""
    figures = _all_figures(session)
    rows = await session.execute(
        select(
            figures.c.day, figures.c.status, func.sum(figures.c.orders), func.sum(figures.c.total_fen)
        ).group_by(figures.c.day, figures.c.status)
    )
    return {(_as_date(day), status): (int(n), int(t)) for day, status, n, t in rows if int(n) or int(t)}


def _as_date(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


async def by_status(session: AsyncSession) -> dict[str, int]:
    """Orders in each status now (every status, zeros included)."""
    figures = _all_figures(session)
    rows = await session.execute(
        select(figures.c.status, func.sum(figures.c.orders)).group_by(figures.c.status)
    )
    counts = {status.value: 0 for status in OrderStatus}
    for status, n in rows:
        counts[status] = int(n)
    return counts


async def by_day(
    session: AsyncSession, first: date, last: date, sold: Iterable[str]
) -> dict[date, tuple[int, int]]:
    """{day: (orders placed that day, total of those now in a `sold` status)} for first..last."""
    figures = _all_figures(session)
    rows = await session.execute(
        select(
            figures.c.day,
            func.sum(figures.c.orders),
            func.sum(
                case((figures.c.status.in_(list(sold)), figures.c.total_fen), else_=literal_column("0"))
            ),
        )
        .where(figures.c.day >= first, figures.c.day <= last)
        .group_by(figures.c.day)
    )
    return {_as_date(day): (int(n), int(t)) for day, n, t in rows}


async def recount(session: AsyncSession) -> dict[Key, tuple[int, int]]:
    """Every (day, status) figure counted from the orders themselves, keyset by id in bounded reads (one
    transaction: on MariaDB one snapshot, consistent with the deltas read beside it)."""
    sums: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    orders = Order.__table__
    after = 0
    while True:
        rows = (
            await session.execute(
                select(orders.c.id, orders.c.created_at, orders.c.status, orders.c.total_fen)
                .where(orders.c.id > after)
                .order_by(orders.c.id)
                .limit(RECOUNT_CHUNK)
            )
        ).all()
        if not rows:
            break
        for _id, created_at, status, total in rows:
            entry = sums[(day_of(created_at), status)]
            entry[0] += 1
            entry[1] += int(total)
        after = rows[-1][0]
    return {key: (n, t) for key, (n, t) in sums.items()}


async def repair(session: AsyncSession) -> int:
    """Recount from scratch and add a correcting delta for every (day, status) that differs; how many
    differed. Safe beside checkouts and folds (their changes are either in this snapshot's orders and its
    deltas, or in neither); run one repair at a time."""
    truth = await recount(session)
    seen = await current(session)
    corrections = []
    for key in sorted(set(truth) | set(seen)):
        n_true, t_true = truth.get(key, (0, 0))
        n_seen, t_seen = seen.get(key, (0, 0))
        if (n_true, t_true) != (n_seen, t_seen):
            corrections.append(
                {"day": key[0], "status": key[1], "orders": n_true - n_seen, "total_fen": t_true - t_seen}
            )
    await add(session, corrections)
    return len(corrections)
