from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Select, and_, case, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.catalog.models import Product, Sku
from app.db import utcnow
from app.kit.leandb import HexText, Transaction, error_code
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


# ------------------------------------------------------------------------------------------ checkout writes
# Checkout runs the same steps on two stores: the request's session (SQLite, and the whole-cart checkout),
# and on MariaDB a bare asyncmy cursor inside its own short transaction (app.kit.leandb), which costs a
# fraction of the CPU. Both answer the same questions and write the same rows.


class CheckoutAddress(NamedTuple):
    recipient: str
    phone: str
    province: str
    city: str
    district: str
    detail: str
    needs_correction: bool


class CheckoutSku(NamedTuple):
    id: int
    name: str
    price_fen: int
    is_active: bool
    product_id: int
    product_name: str
    product_status: str


class CheckoutReads(NamedTuple):
    """What checkout reads, after locking the customer's row: the address (None when it is not theirs),
    the SKUs that exist, and what the customer holds unpaid (orders, and units of each of these SKUs)."""

    address: CheckoutAddress | None
    skus: dict[int, CheckoutSku]
    unpaid_orders: int
    unpaid_units: dict[int, int]


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


class SessionCheckoutStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def address(self, user_id: int, address_id: int) -> CheckoutAddress | None:
        from app.users import repository as users_repository

        address = await users_repository.get_address(self.session, user_id, address_id)
        if address is None:
            return None
        return CheckoutAddress(
            address.recipient,
            address.phone,
            address.province,
            address.city,
            address.district,
            address.detail,
            address.needs_correction,
        )

    async def skus(self, sku_ids: Iterable[int]) -> dict[int, CheckoutSku]:
        return {sku_id: CheckoutSku(*row) for sku_id, row in (await sku_rows(self.session, sku_ids)).items()}

    async def read_for_checkout(
        self, user_id: int, address_id: int, sku_ids: Iterable[int], key: str | None = None
    ) -> CheckoutReads:
        """`key` is not looked at: on this path the Idempotency-Key was claimed before the transaction."""
        from app.users import repository as users_repository

        # Parallel checkouts of one customer queue here, so that each counts the others' unpaid orders.
        await users_repository.lock(self.session, user_id)
        address = await self.address(user_id, address_id)
        if address is None:
            return CheckoutReads(None, {}, 0, {})
        sku_ids = list(sku_ids)
        orders, units = await unpaid_holdings(self.session, user_id, sku_ids)
        return CheckoutReads(address, await self.skus(sku_ids), orders, units)

    async def insert_order_and_items(
        self, order: dict[str, Any], items: list[dict[str, Any]]
    ) -> tuple[int, list[int]]:
        """The order's id and its lines' ids (`items` without order_id, in order)."""
        order_id = await insert_order(self.session, order)
        return order_id, await insert_items(self.session, [{**item, "order_id": order_id} for item in items])

    async def emit(self, row: dict[str, Any]) -> None:
        from app.events import OutboxEvent

        self.session.add(OutboxEvent(**row))
        await self.session.flush()

    async def save_idempotent_response(self, claim_id: int, status: int, body: str) -> None:
        await save_idempotent_response(self.session, claim_id, status, body)

    async def take_stock(self, lines: list[tuple[int, int]]) -> list[int]:
        """Take every line's stock (in ascending SKU order, as given); returns the SKUs short of stock."""
        return [sku_id for sku_id, qty in lines if not await take_stock(self.session, sku_id, qty)]


def _naive_utc(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


_ORDER_COLUMNS = (
    "order_no user_id status subtotal_fen shipping_fen discount_fen total_fen coupon_code note address"
    " recipient_phone pay_deadline created_at updated_at"
).split()
_ITEM_COLUMNS = "sku_id product_id name sku_name quantity unit_price_fen subtotal_fen".split()  # + order_id
_OUTBOX_COLUMNS = "event_id type version subject occurred_at data attempts".split()


class LeanCheckoutStore:
    """The same writes as SessionCheckoutStore as plain MariaDB statements on an asyncmy cursor that is
    inside a transaction (the caller commits). Datetimes go in as naive UTC and JSON as text, as the
    column types of the models store them."""

    ADDRESS_AND_SKUS_SQL = (
        "SELECT s.id, s.name, s.price_fen, s.is_active, s.product_id, p.name, p.status,"
        " a.recipient, a.phone, a.province, a.city, a.district, a.detail, a.needs_correction"
        " FROM addresses a LEFT JOIN (skus s JOIN products p ON p.id = s.product_id) ON s.id IN ({})"
        " WHERE a.id = %s AND a.user_id = %s"
    )
    LOCK_CUSTOMER_SQL = "SELECT id FROM users WHERE id = %s FOR UPDATE"
    KEY_SQL = "SELECT id FROM idempotency_keys WHERE user_id = %s AND `key` = %s"
    # A key row inserted by a checkout still running is locked: asking for it without waiting fails at once.
    KEY_NOWAIT_SQL = "SET STATEMENT innodb_lock_wait_timeout = 0 FOR " + KEY_SQL + " LOCK IN SHARE MODE"
    UNPAID_ORDERS_SQL = "SELECT COUNT(*) FROM orders WHERE user_id = %s AND status = 'pending_payment'"
    UNPAID_UNITS_SQL = (
        "SELECT i.sku_id, SUM(i.quantity) FROM orders o JOIN order_items i ON i.order_id = o.id"
        " WHERE o.user_id = %s AND o.status = 'pending_payment' AND i.sku_id IN ({}) GROUP BY i.sku_id"
    )
    # Columns in the order of _ORDER_COLUMNS, _ITEM_COLUMNS (after the order's id) and _OUTBOX_COLUMNS.
    ORDER_SQL = (
        "INSERT INTO orders (order_no, user_id, status, subtotal_fen, shipping_fen, discount_fen, total_fen,"
        " coupon_code, note, address, recipient_phone, pay_deadline, created_at, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    )
    ITEM_SQL = (
        "INSERT INTO order_items (order_id, sku_id, product_id, name, sku_name, quantity, unit_price_fen,"
        " subtotal_fen) VALUES (@daoxiang_order_id, %s, %s, %s, %s, %s, %s, %s)"
    )
    OUTBOX_SQL = (
        "INSERT INTO outbox_events (event_id, type, version, subject, occurred_at, data, attempts)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)"
    )
    IDEMPOTENCY_SQL = (
        "INSERT INTO idempotency_keys (user_id, `key`, request_hash, response_status, response_body,"
        " claimed_at, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
    )
    RESPONSE_SQL = "UPDATE idempotency_keys SET response_status = %s, response_body = %s WHERE id = %s"
    STOCK_SQL = "UPDATE skus SET stock = stock - %s, updated_at = %s WHERE id = %s AND stock >= %s"
    STOCK_CHECKED_SQL = "UPDATE skus SET stock = stock - %s, updated_at = %s WHERE id = %s"
    CHECK_FAILED = (4025, 3819)  # MariaDB, MySQL: a CHECK constraint failed

    def __init__(
        self, tx: Transaction, *, nowait_keys: bool = False, commit_with_stock: bool = False
    ) -> None:
        self.tx = tx
        self.cursor = tx.cursor
        # The server enforces CHECK (stock >= 0): the stock UPDATEs need no condition, a short line fails its
        # UPDATE, and COMMIT can go in the same round trip (the server stops at the first failing statement).
        self.commit_with_stock = commit_with_stock
        self.queued: list[str] = []
        # Which of the queued statements inserts the Idempotency-Key's row (its errors mean the key is taken).
        self._key_statement: int | None = None
        # MariaDB: the key's insert does not wait for a request still holding it (app.orders.idempotency).
        self.nowait_keys = nowait_keys
        self._key_sql = ("SET STATEMENT innodb_lock_wait_timeout = 0 FOR " if nowait_keys else "") + (
            self.IDEMPOTENCY_SQL
        )

    async def read_for_checkout(
        self, user_id: int, address_id: int, sku_ids: Iterable[int], key: str | None = None
    ) -> CheckoutReads:
        """Every read in one round trip, after locking the customer's row (parallel checkouts of one customer
        queue there, so that each counts the others' unpaid orders). The address query has no rows when the
        address is not the customer's, and one row with no SKU when none of the SKUs exists.

        With an Idempotency-Key, raises KeyInUse when a checkout still running holds it (looked at before
        queueing for the customer's row, which that checkout holds), and KeyAlreadyStored when it is stored
        (looked at again once the row is ours: a checkout we queued behind may have stored it)."""
        from app.orders.idempotency import KeyAlreadyStored, KeyInUse  # idempotency imports this module

        ids = [int(sku_id) for sku_id in sku_ids]
        placeholders = ", ".join(["%s"] * len(ids))
        m = self.cursor.mogrify
        statements = []
        if key is not None and self.nowait_keys:
            statements.append(m(self.KEY_NOWAIT_SQL, (user_id, key)))
        statements.append(m(self.LOCK_CUSTOMER_SQL, (user_id,)))
        if key is not None:
            statements.append(m(self.KEY_SQL, (user_id, key)))
        statements += [
            m(self.ADDRESS_AND_SKUS_SQL.format(placeholders), [*ids, address_id, user_id]),
            m(self.UNPAID_ORDERS_SQL, (user_id,)),
            m(self.UNPAID_UNITS_SQL.format(placeholders), [user_id, *ids]),
        ]
        results: list[Any] = []
        try:
            await self.cursor.execute("; ".join(statements))
            results.append(await self.cursor.fetchall())
            for _ in statements[1:]:
                await self.cursor.nextset()
                results.append(await self.cursor.fetchall())
        except Exception as exc:
            if not results and key is not None and self.nowait_keys and error_code(exc) == 1205:
                raise KeyInUse from None
            raise
        *key_rows, _locked, rows, (unpaid_orders,), units = results
        if any(key_rows):
            raise KeyAlreadyStored
        skus = {
            int(row[0]): CheckoutSku(int(row[0]), row[1], row[2], bool(row[3]), *row[4:7])
            for row in rows
            if row[0] is not None
        }
        address = CheckoutAddress(*rows[0][7:13], bool(rows[0][13])) if rows else None
        return CheckoutReads(
            address,
            skus if address is not None else {},
            int(unpaid_orders[0]),
            {int(sku_id): int(n) for sku_id, n in units},
        )

    @staticmethod
    def _params(columns: list[str], values: dict[str, Any]) -> list[Any]:
        params = []
        for column in columns:
            value = values.get(column)
            if isinstance(value, datetime):
                value = _naive_utc(value)
            elif isinstance(value, dict | list):
                value = HexText(_json(value))
            params.append(value)
        return params

    def _queue(self, sql: str, params: Any) -> None:
        """Writes whose answer checkout does not need wait here and go with the stock UPDATE, in one round trip
        (the transaction pool's connections accept several statements at once; the values are escaped by
        the driver exactly as for a single statement)."""
        self.queued.append(self.cursor.mogrify(sql, params))

    async def insert_order_and_items(
        self, order: dict[str, Any], items: list[dict[str, Any]]
    ) -> tuple[int, list[int]]:
        """The order and its lines in one round trip: each line takes the order's id from the server
        (LAST_INSERT_ID() of the order's INSERT, kept in a session variable), and each INSERT's answer
        carries the id it made."""
        statements = [
            self.cursor.mogrify(self.ORDER_SQL, self._params(_ORDER_COLUMNS, order)),
            "SET @daoxiang_order_id = LAST_INSERT_ID()",
            *(self.cursor.mogrify(self.ITEM_SQL, self._params(_ITEM_COLUMNS, item)) for item in items),
        ]
        await self.cursor.execute("; ".join(statements))
        order_id = int(self.cursor.lastrowid)
        await self.cursor.nextset()
        item_ids = []
        for _ in items:
            await self.cursor.nextset()
            item_ids.append(int(self.cursor.lastrowid))
        return order_id, item_ids

    async def emit(self, row: dict[str, Any]) -> None:
        self._queue(self.OUTBOX_SQL, self._params(_OUTBOX_COLUMNS, row))

    def insert_idempotency_row(
        self, user_id: int, key: str, request_hash: str, now: datetime, status: int, body: str
    ) -> None:
        """Queued: when the queue is sent, take_stock raises KeyAlreadyStored if the row exists already, and
        KeyInUse if another transaction is inserting it."""
        at = _naive_utc(now)
        self._key_statement = len(self.queued)
        self._queue(self._key_sql, (user_id, key, request_hash, status, HexText(body), at, at))

    async def save_idempotent_response(self, claim_id: int, status: int, body: str) -> None:
        self._queue(self.RESPONSE_SQL, (status, HexText(body), claim_id))

    async def take_stock(self, lines: list[tuple[int, int]]) -> list[int]:
        """Take every line's stock, sending the queued writes first, all in one round trip; with
        commit_with_stock the COMMIT goes too. Returns the SKUs short of stock (then nothing was taken and
        nothing committed: the caller rolls back). Raises KeyAlreadyStored or KeyInUse when the queued
        Idempotency-Key row is taken."""
        from app.orders.idempotency import KeyAlreadyStored, KeyInUse  # idempotency imports this module

        now = _naive_utc(utcnow())
        first_stock = len(self.queued)
        if self.commit_with_stock:
            stock = [self.cursor.mogrify(self.STOCK_CHECKED_SQL, (qty, now, sku_id)) for sku_id, qty in lines]
            statements = [*self.queued, *stock, "COMMIT"]
        else:
            stock = [self.cursor.mogrify(self.STOCK_SQL, (qty, now, sku_id, qty)) for sku_id, qty in lines]
            statements = [*self.queued, *stock]
        key_statement, self._key_statement = self._key_statement, None
        self.queued.clear()
        answered = 0  # the server stops at the first statement that fails; its error comes with its answer
        rowcounts = []
        try:
            await self.cursor.execute("; ".join(statements))
            rowcounts.append(self.cursor.rowcount)
            while answered < len(statements) - 1:
                answered += 1
                await self.cursor.nextset()
                rowcounts.append(self.cursor.rowcount)
        except Exception as exc:
            code = error_code(exc)
            if answered == key_statement and code == 1062:
                raise KeyAlreadyStored from None
            if answered == key_statement and code == 1205:
                raise KeyInUse from None
            if first_stock <= answered < first_stock + len(lines) and code in self.CHECK_FAILED:
                return await self._short_of(lines, lines[answered - first_stock][0])
            raise
        taken = rowcounts[first_stock : first_stock + len(lines)]
        if self.commit_with_stock:
            self.tx.committed = True
            if any(n != 1 for n in taken):  # a SKU row vanished after it was read: SKUs are never deleted
                log.error("checkout committed without taking stock", extra={"lines": lines, "taken": taken})
            return []
        return [sku_id for (sku_id, _), n in zip(lines, taken, strict=True) if n != 1]

    async def _short_of(self, lines: list[tuple[int, int]], failed: int) -> list[int]:
        """The lines whose stock is short now (at least the one whose UPDATE failed its CHECK)."""
        ids = [sku_id for sku_id, _ in lines]
        await self.cursor.execute(
            f"SELECT id, stock FROM skus WHERE id IN ({', '.join(['%s'] * len(ids))})",  # noqa: S608
            ids,
        )
        stock = {int(sku_id): int(n) for sku_id, n in await self.cursor.fetchall()}
        return sorted({failed} | {sku_id for sku_id, qty in lines if stock.get(sku_id, 0) < qty})


CheckoutStore = SessionCheckoutStore | LeanCheckoutStore
