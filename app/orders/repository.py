from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.catalog.models import Product, Sku
from app.db import utcnow
from app.orders.models import IdempotencyKey, Order, OrderItem, OrderStatus
from app.users.models import User

log = logging.getLogger("daoxiang.orders")


def _is_mysql(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "mysql"


async def sku_rows(session: AsyncSession, sku_ids: Iterable[int]) -> dict[int, Any]:
    """What checkout needs to know about each SKU: price, name, whether it is on sale."""
    rows = await session.execute(
        select(
            Sku.id,
            Sku.name,
            Sku.price_fen,
            Sku.is_active,
            Sku.product_id,
            Product.name.label("product_name"),
            Product.status.label("product_status"),
        )
        .join(Product, Product.id == Sku.product_id)
        .where(Sku.id.in_(list(sku_ids)))
    )
    return {row.id: row for row in rows}


async def take_stock(session: AsyncSession, sku_id: int, quantity: int) -> bool:
    """Atomically take `quantity` of a SKU; False (and nothing taken) when there is not enough."""
    skus = Sku.__table__
    conn = await session.connection()
    result = await conn.execute(
        update(skus)
        .where(skus.c.id == sku_id, skus.c.stock >= quantity)
        .values(stock=skus.c.stock - quantity, updated_at=utcnow())
    )
    return result.rowcount == 1


async def put_back_stock(session: AsyncSession, quantities: dict[int, int]) -> None:
    # Ascending id order, like checkout, so that returns and takes never wait on each other in a cycle.
    for sku_id in sorted(quantities):
        await session.execute(
            update(Sku)
            .where(Sku.id == sku_id)
            .values(stock=Sku.stock + quantities[sku_id])
            .execution_options(synchronize_session=False)
        )


async def add_sales(session: AsyncSession, by_product: dict[int, int]) -> None:
    for product_id in sorted(by_product):
        await session.execute(
            update(Product)
            .where(Product.id == product_id)
            .values(
                sales_count=case(
                    (Product.sales_count + by_product[product_id] < 0, 0),
                    else_=Product.sales_count + by_product[product_id],
                )
            )
            .execution_options(synchronize_session=False)
        )


async def insert_order(session: AsyncSession, values: dict[str, Any]) -> int:
    conn = await session.connection()
    result = await conn.execute(insert(Order.__table__).values(**values))
    return int(result.inserted_primary_key[0])


async def insert_items(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """Insert order lines; their ids in the same order (one statement, RETURNING)."""
    table = OrderItem.__table__
    conn = await session.connection()
    result = await conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
    return [int(row_id) for row_id in result.scalars().all()]


async def claim_stock_release(session: AsyncSession, order_id: int, at: datetime) -> bool:
    """Mark an order's stock as returned; True for exactly one caller, however many race."""
    result = await session.execute(
        update(Order)
        .where(Order.id == order_id, Order.stock_released_at.is_(None))
        .values(stock_released_at=at)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def approve_refund_once(session: AsyncSession, order_id: int, at: datetime) -> bool:
    result = await session.execute(
        update(Order)
        .where(
            Order.id == order_id,
            Order.status == OrderStatus.refunding.value,
            Order.refund_approved_at.is_(None),
        )
        .values(refund_approved_at=at)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def kinds_of(session: AsyncSession, order_ids: Sequence[int]) -> dict[int, str]:
    if not order_ids:
        return {}
    rows = await session.execute(select(Order.id, Order.kind).where(Order.id.in_(order_ids)))
    return {order_id: kind for order_id, kind in rows.all()}


async def items_of(session: AsyncSession, order_ids: Sequence[int]) -> Sequence[OrderItem]:
    if not order_ids:
        return []
    return (await session.execute(select(OrderItem).where(OrderItem.order_id.in_(order_ids)))).scalars().all()


def _with_details(stmt: Select) -> Select:
    return stmt.options(selectinload(Order.items), selectinload(Order.history))


async def get(session: AsyncSession, order_id: int, *, user_id: int | None = None) -> Order | None:
    stmt = _with_details(select(Order).where(Order.id == order_id)).execution_options(populate_existing=True)
    if user_id is not None:
        stmt = stmt.where(Order.user_id == user_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_plain(session: AsyncSession, order_id: int) -> Order | None:
    stmt = select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_for_user(
    session: AsyncSession, user_id: int, status: OrderStatus | None, offset: int, limit: int
) -> tuple[Sequence[Order], int]:
    where = [Order.user_id == user_id]
    if status is not None:
        where.append(Order.status == status.value)
    total = (await session.execute(select(func.count()).select_from(Order).where(*where))).scalar_one()
    rows = (
        (
            await session.execute(
                _with_details(
                    select(Order).where(*where).order_by(Order.id.desc()).offset(offset).limit(limit)
                )
            )
        )
        .scalars()
        .all()
    )
    return rows, total


def _staff_filters(
    status: OrderStatus | None,
    created_from: datetime | None,
    created_before: datetime | None,
    phone: str | None,
) -> list[Any]:
    where: list[Any] = []
    if status is not None:
        where.append(Order.status == status.value)
    if created_from is not None:
        where.append(Order.created_at >= created_from)
    if created_before is not None:
        where.append(Order.created_at < created_before)
    if phone:
        buyer_ids = select(User.id).where(User.phone == phone).scalar_subquery()
        where.append(or_(Order.recipient_phone == phone, Order.user_id == buyer_ids))
    return where


async def list_for_staff(
    session: AsyncSession,
    *,
    status: OrderStatus | None,
    created_from: datetime | None,
    created_before: datetime | None,
    phone: str | None,
    offset: int,
    limit: int,
    before_id: int | None = None,
) -> Sequence[tuple[Order, str]]:
    """A page of orders, newest first (created_at, then id): after `offset` rows, or (keyset) those that
    come after the order `before_id`. The ids are picked from an index first (ix_orders_created_at or
    ix_orders_status_created_at, both ending in the id) and only the page's rows are read."""
    where = _staff_filters(status, created_from, created_before, phone)
    if before_id is not None:
        cursor_at = (
            await session.execute(select(Order.created_at).where(Order.id == before_id))
        ).scalar_one_or_none()
        if cursor_at is None:
            return []
        where.append(
            or_(Order.created_at < cursor_at, and_(Order.created_at == cursor_at, Order.id < before_id))
        )
        offset = 0
    newest_first = (Order.created_at.desc(), Order.id.desc())
    ids = (
        (
            await session.execute(
                select(Order.id).where(*where).order_by(*newest_first).offset(offset).limit(limit)
            )
        )
        .scalars()
        .all()
    )
    if not ids:
        return []
    rows = await session.execute(
        _with_details(
            select(Order, User.phone)
            .join(User, User.id == Order.user_id)
            .where(Order.id.in_(list(ids)))
            .order_by(*newest_first)
        )
    )
    return [(order, phone_) for order, phone_ in rows.all()]


async def count_for_staff(
    session: AsyncSession,
    *,
    status: OrderStatus | None,
    created_from: datetime | None,
    created_before: datetime | None,
    phone: str | None,
    cap: int,
) -> int:
    """How many orders match, counting at most `cap + 1`: a count never reads more than that many index
    entries, however large the table grows (more than `cap` is shown as "more than")."""
    where = _staff_filters(status, created_from, created_before, phone)
    bounded = select(Order.id).where(*where).limit(cap + 1).subquery()
    return int((await session.execute(select(func.count()).select_from(bounded))).scalar_one())


async def export_chunk(
    session: AsyncSession,
    created_from: datetime | None,
    created_before: datetime | None,
    after_id: int,
    upto_id: int,
    limit: int,
) -> list[tuple[Any, str, list[Any]]]:
    """The next `limit` orders of an export as plain rows (order, buyer phone, lines), by id after
    `after_id` and up to `upto_id` (the newest order when the export began: orders placed while it runs are
    not half in it). Plain rows, not ORM objects: building objects cost ten times the query."""
    where = _staff_filters(None, created_from, created_before, None)
    orders = Order.__table__
    rows = (
        await session.execute(
            select(orders, User.phone.label("buyer_phone"))
            .join(User, User.id == orders.c.user_id)
            .where(*where, orders.c.id > after_id, orders.c.id <= upto_id)
            .order_by(orders.c.id)
            .limit(limit)
        )
    ).all()
    if not rows:
        return []
    items = OrderItem.__table__
    lines: dict[int, list[Any]] = {row.id: [] for row in rows}
    for line in await session.execute(
        select(items.c.order_id, items.c.name, items.c.quantity)
        .where(items.c.order_id.in_(list(lines)))
        .order_by(items.c.id)
    ):
        lines[line.order_id].append(line)
    return [(row, row.buyer_phone, lines[row.id]) for row in rows]


async def export_count(
    session: AsyncSession, created_from: datetime | None, created_before: datetime | None, upto_id: int
) -> int:
    where = _staff_filters(None, created_from, created_before, None)
    stmt = select(func.count()).select_from(Order).where(*where, Order.id <= upto_id)
    return int((await session.execute(stmt)).scalar_one())


async def newest_id(session: AsyncSession) -> int:
    return int((await session.execute(select(func.coalesce(func.max(Order.id), 0)))).scalar_one())


async def buyer_phone(session: AsyncSession, user_id: int) -> str:
    return (await session.execute(select(User.phone).where(User.id == user_id))).scalar_one()


async def due_ids(
    session: AsyncSession, status: OrderStatus, column: Any, before: datetime, limit: int
) -> list[int]:
    """Ids of orders in `status` whose `column` is before `before`, claimed with SKIP LOCKED on MariaDB so
    that several workers share the work instead of queueing on the same rows."""
    stmt = (
        select(Order.id)
        .where(Order.status == status.value, column <= before)
        .order_by(column, Order.id)
        .limit(limit)
    )
    if _is_mysql(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return list((await session.execute(stmt)).scalars().all())


# Idempotency keys


async def find_idempotency_key(session: AsyncSession, user_id: int, key: str) -> IdempotencyKey | None:
    stmt = (
        select(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def insert_claim(
    session: AsyncSession,
    user_id: int,
    key: str,
    request_hash: str,
    now: datetime,
    response_status: int | None = None,
    response_body: str | None = None,
) -> int:
    """INSERT the key's unique row; IntegrityError when someone else has the key."""
    conn = await session.connection()
    result = await conn.execute(
        insert(IdempotencyKey.__table__).values(
            user_id=user_id,
            key=key,
            request_hash=request_hash,
            response_status=response_status,
            response_body=response_body,
            claimed_at=now,
            created_at=now,
        )
    )
    return int(result.inserted_primary_key[0])


async def take_over_stale_claim(
    session: AsyncSession, claim_id: int, seen_claimed_at: datetime, now: datetime
) -> bool:
    result = await session.execute(
        update(IdempotencyKey)
        .where(
            IdempotencyKey.id == claim_id,
            IdempotencyKey.response_status.is_(None),
            IdempotencyKey.claimed_at == seen_claimed_at,
        )
        .values(claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def save_idempotent_response(session: AsyncSession, claim_id: int, status: int, body: str) -> None:
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == claim_id)
        .values(response_status=status, response_body=body)
        .execution_options(synchronize_session=False)
    )


async def release_claim(session: AsyncSession, claim_id: int) -> None:
    await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.id == claim_id, IdempotencyKey.response_status.is_(None))
    )


async def purge_idempotency_keys(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < before))
    return result.rowcount or 0


# ------------------------------------------------------------------------------------------ checkout
# The ORM checkout store (app.checkout.stores.OrmCheckoutStore) reads and writes through these.


_UNPAID = OrderStatus.pending_payment.value


async def unpaid_holdings(
    session: AsyncSession, user_id: int, sku_ids: Iterable[int]
) -> tuple[int, dict[int, int]]:
    """How many orders the customer has awaiting payment, and how many units of each SKU they hold."""
    orders = (
        await session.execute(
            select(func.count()).select_from(Order).where(Order.user_id == user_id, Order.status == _UNPAID)
        )
    ).scalar_one()
    if not orders:
        return 0, {}
    rows = await session.execute(
        select(OrderItem.sku_id, func.sum(OrderItem.quantity))
        .join(Order, Order.id == OrderItem.order_id)
        .where(Order.user_id == user_id, Order.status == _UNPAID, OrderItem.sku_id.in_(list(sku_ids)))
        .group_by(OrderItem.sku_id)
    )
    return orders, {int(sku_id): int(units) for sku_id, units in rows.all()}


async def shipment_lines(session: AsyncSession, order_id: int) -> list[tuple[int, int, int, int, int]]:
    """(order item id, sku id, product id, quantity, sku weight in grams) of each line, for traceability."""
    query = (
        select(OrderItem.id, OrderItem.sku_id, OrderItem.product_id, OrderItem.quantity, Sku.weight_g)
        .outerjoin(Sku, Sku.id == OrderItem.sku_id)
        .where(OrderItem.order_id == order_id)
        .order_by(OrderItem.id)
    )
    return [(a, b, c, d, e or 0) for a, b, c, d, e in (await session.execute(query)).all()]


async def lock_order(session: AsyncSession, order_id: int) -> None:
    """Lock the order's row until the transaction ends (serialises actions on one order)."""
    await session.execute(select(Order.id).where(Order.id == order_id).with_for_update())
