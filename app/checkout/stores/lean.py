"""The lean store (MariaDB/MySQL): plain statements on an asyncmy cursor in its own short transaction, its
INSERTs generated from the models' tables (app.checkout.stores)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.cart import service as cart_service
from app.checkout.stores.base import (
    CheckoutAddress,
    CheckoutCoupon,
    CheckoutReads,
    CheckoutSku,
    IdempotentRequest,
    KeyAlreadyStored,
    KeyInUse,
    _answer_text,
    _auth_state,
    _checkout_coupon,
)
from app.checkout.stores.inserts import (
    ADOPTION_INSERT,
    ITEM_INSERT,
    KEY_INSERT,
    ONLY_ITEM_INSERT,
    ORDER_INSERT,
    OUTBOX_INSERT,
    PRESALE_SHARE_INSERT,
    PURCHASE_INSERT,
    _aware,
    _naive_utc,
)
from app.db import utcnow
from app.flash_sales.service import SaleState
from app.kit.leandb import Transaction, error_code

log = logging.getLogger("daoxiang.orders")


class LeanCheckoutStore:
    """The same reads and writes as OrmCheckoutStore as plain MariaDB statements on an asyncmy cursor inside
    a transaction (app.kit.leandb; the caller commits). Datetimes go in as naive UTC and JSON as text, as the
    column types of the models store them."""

    # The reads after the lock, as one statement (one result set: each costs the client ~40 us of CPU), each
    # row tagged by what it is. 0: the address (no row when it is not the customer's) with each SKU that
    # exists (one row with no SKU when none does); 1: the unpaid orders; 2: the unpaid units per SKU;
    # 3: the Idempotency-Key's row. One statement is also one read view, taken once the lock is ours.
    READS_SQL = (
        "SELECT 0, s.id, s.name, s.price_fen, s.is_active, s.product_id, p.name, p.status,"
        " a.recipient, a.phone, a.province, a.city, a.district, a.detail, a.needs_correction"
        " FROM addresses a LEFT JOIN (skus s JOIN products p ON p.id = s.product_id) ON s.id IN ({ids})"
        " WHERE a.id = %s AND a.user_id = %s"
        " UNION ALL SELECT 1, COUNT(*), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
        " FROM orders WHERE user_id = %s AND status = 'pending_payment'"
        " UNION ALL SELECT 2, i.sku_id, NULL, SUM(i.quantity), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
        " FROM orders o JOIN order_items i ON i.order_id = o.id"
        " WHERE o.user_id = %s AND o.status = 'pending_payment' AND i.sku_id IN ({ids}) GROUP BY i.sku_id"
    )
    READS_KEY_SQL = (
        " UNION ALL SELECT 3, id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
        " FROM idempotency_keys WHERE user_id = %s AND `key` = %s"
    )
    # The lock reads the row's auth state (app.users.revocation): the access token is checked against it.
    LOCK_CUSTOMER_SQL = "SELECT role, token_version, is_active FROM users WHERE id = %s FOR UPDATE"
    KEY_SQL = "SELECT id FROM idempotency_keys WHERE user_id = %s AND `key` = %s"
    # A key row inserted by a checkout still running is locked: asking for it without waiting fails at once.
    KEY_NOWAIT_SQL = "SET STATEMENT innodb_lock_wait_timeout = 0 FOR " + KEY_SQL + " LOCK IN SHARE MODE"
    # The cart as app.cart.repository.lines_with_skus reads it (lines of SKUs and products that exist).
    CART_SQL = (
        "SELECT c.sku_id, c.quantity, s.stock FROM cart_items c JOIN skus s ON s.id = c.sku_id"
        " JOIN products p ON p.id = s.product_id WHERE c.user_id = %s ORDER BY c.id"
    )
    CART_DELETE_SQL = "DELETE FROM cart_items WHERE user_id = %s AND sku_id IN ({})"
    # The coupon (app.coupons.repository.CHECKOUT_COLUMNS), then which of the SKUs it covers: named products,
    # or products in a named category or a direct subcategory of one.
    COUPON_SQL = (
        "SELECT cl.id, cl.status, cl.coupon_id, c.kind, c.amount_fen, c.percent_off, c.max_discount_fen,"
        " c.threshold_fen, c.starts_at, cl.expires_at, c.whole_shop"
        " FROM coupon_claims cl JOIN coupons c ON c.id = cl.coupon_id WHERE cl.code = %s AND cl.user_id = %s"
    )
    COUPON_SKUS_SQL = (
        "SELECT s.id FROM coupon_claims cl JOIN skus s ON s.id IN ({})"
        " JOIN products p ON p.id = s.product_id LEFT JOIN categories g ON g.id = p.category_id"
        " WHERE cl.code = %s AND cl.user_id = %s AND ("
        "EXISTS (SELECT 1 FROM coupon_products cp WHERE cp.coupon_id = cl.coupon_id AND cp.product_id = p.id)"
        " OR EXISTS (SELECT 1 FROM coupon_categories cc WHERE cc.coupon_id = cl.coupon_id"
        " AND cc.category_id IN (p.category_id, g.parent_id)))"
    )
    USE_COUPON_SQL = (
        "UPDATE coupon_claims SET status = 'used', order_id = %s, used_at = %s"
        " WHERE id = %s AND status = 'unused' AND order_id IS NULL"
    )
    STOCK_SQL = "UPDATE skus SET stock = stock - %s, updated_at = %s WHERE id = %s AND stock >= %s"
    STOCK_CHECKED_SQL = "UPDATE skus SET stock = stock - %s, updated_at = %s WHERE id = %s"
    CHECK_FAILED = (4025, 3819)  # MariaDB, MySQL: a CHECK constraint failed
    FLASH_SALE_SQL = (
        "SELECT sku_id, price_fen, remaining, per_customer_limit, starts_at, ends_at, closed_at"
        " FROM flash_sales WHERE id = %s"
    )
    FLASH_HELD_SQL = (
        "SELECT COALESCE(SUM(quantity), 0) FROM flash_sale_purchases"
        " WHERE sale_id = %s AND user_id = %s AND released_at IS NULL"
    )
    FLASH_TAKE_SQL = (
        "UPDATE flash_sales SET remaining = remaining - %s, updated_at = %s WHERE id = %s AND remaining >= %s"
    )
    FLASH_TAKE_CHECKED_SQL = (
        "UPDATE flash_sales SET remaining = remaining - %s, updated_at = %s WHERE id = %s"
    )
    PRESALE_TAKE_SQL = (
        "UPDATE presales SET remaining = remaining - %s, updated_at = %s WHERE id = %s AND remaining >= %s"
    )
    PRESALE_TAKE_CHECKED_SQL = "UPDATE presales SET remaining = remaining - %s, updated_at = %s WHERE id = %s"

    ADOPTION_TAKE_SQL = (
        "UPDATE adoption_plans SET shares_left = shares_left - %s, updated_at = %s"
        " WHERE id = %s AND shares_left >= %s"
    )
    ADOPTION_TAKE_CHECKED_SQL = (
        "UPDATE adoption_plans SET shares_left = shares_left - %s, updated_at = %s WHERE id = %s"
    )

    def __init__(
        self,
        tx: Transaction,
        session: AsyncSession,
        key: IdempotentRequest | None = None,
        *,
        nowait_keys: bool = False,
        commit_with_stock: bool = False,
    ) -> None:
        self.tx = tx
        self.cursor = tx.cursor
        self.session = session
        self.key = key
        # The server enforces CHECK (stock >= 0): the stock UPDATEs need no condition, a short line fails its
        # UPDATE, and COMMIT can go in the same round trip (the server stops at the first failing statement).
        self.commit_with_stock = commit_with_stock
        self.queued: list[str] = []
        # Which of the queued statements inserts the Idempotency-Key's row (its errors mean the key is taken).
        self._key_statement: int | None = None
        # MariaDB: the key's insert does not wait for a request still holding it.
        self.nowait_keys = nowait_keys
        self._key_sql = (
            "SET STATEMENT innodb_lock_wait_timeout = 0 FOR " if nowait_keys else ""
        ) + KEY_INSERT.sql

    async def cart_lines(self, user_id: int) -> dict[int, int]:
        await self.cursor.execute(self.CART_SQL, (user_id,))
        return cart_service.checkout_quantities(await self.cursor.fetchall())

    async def read_for_checkout(self, user_id: int, address_id: int, sku_ids: Iterable[int]) -> CheckoutReads:
        """Every read in one round trip, after locking the customer's row. The address query has no rows when
        the address is not the customer's, and one row with no SKU when none of the SKUs exists.

        With an Idempotency-Key, raises KeyInUse when a checkout still running holds it (looked at before
        queueing for the customer's row, which that checkout holds), and KeyAlreadyStored when it is stored
        (looked at again once the row is ours: a checkout we queued behind may have stored it)."""
        key = self.key.key if self.key is not None else None
        ids = [int(sku_id) for sku_id in sku_ids]
        placeholders = ", ".join(["%s"] * len(ids))
        m = self.cursor.mogrify
        statements = []
        if key is not None and self.nowait_keys:
            statements.append(m(self.KEY_NOWAIT_SQL, (user_id, key)))
        statements.append(m(self.LOCK_CUSTOMER_SQL, (user_id,)))
        reads = self.READS_SQL.format(ids=placeholders)
        params: list[Any] = [*ids, address_id, user_id, user_id, user_id, *ids]
        if key is not None:
            reads += self.READS_KEY_SQL
            params += [user_id, key]
        statements.append(m(reads, params))
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
        *head, tagged = results
        # head: [the key, looked at without waiting,] the customer's row.
        locked = head[-1]
        rows, unpaid_orders, units, key_rows = [], 0, {}, False
        for row in tagged:
            tag = row[0]
            if tag == 0:
                rows.append(row)
            elif tag == 1:
                unpaid_orders = int(row[1])
            elif tag == 2:
                units[int(row[1])] = int(row[3])
            else:
                key_rows = True
        if key is not None and ((self.nowait_keys and head[0]) or key_rows):
            # Seen without waiting, or once the customer's row was ours (a checkout we queued behind stored
            # it). (Until this module, the customer's row was counted as a key found: every keyed checkout on
            # MariaDB fell back to a committed claim row, two more commits.)
            raise KeyAlreadyStored
        skus = {
            int(row[1]): CheckoutSku(int(row[1]), row[2], int(row[3]), bool(row[4]), int(row[5]), *row[6:8])
            for row in rows
            if row[1] is not None
        }
        address = CheckoutAddress(*rows[0][8:14], bool(rows[0][14])) if rows else None
        return CheckoutReads(
            address,
            skus if address is not None else {},
            unpaid_orders,
            units,
            _auth_state(locked[0] if locked else None),
        )

    def _queue(self, sql: str, params: Sequence[Any]) -> None:
        """Writes whose answer checkout does not need wait here and go with the stock UPDATE, in one round trip
        (the transaction pool's connections accept several statements at once; the values are escaped by
        the driver exactly as for a single statement)."""
        self.queued.append(self.cursor.mogrify(sql, params))

    async def insert_order_and_items(
        self, order: dict[str, Any], items: list[dict[str, Any]]
    ) -> tuple[int, list[int]]:
        """The order and its lines in one round trip: each line takes the order's id from the server
        (LAST_INSERT_ID() of the order's INSERT; with several lines, kept in a session variable), and each
        INSERT's answer carries the id it made."""
        m = self.cursor.mogrify
        if len(items) == 1:
            statements = [
                m(ORDER_INSERT.sql, ORDER_INSERT.params(order)),
                m(ONLY_ITEM_INSERT.sql, ONLY_ITEM_INSERT.params(items[0])),
            ]
        else:
            statements = [
                m(ORDER_INSERT.sql, ORDER_INSERT.params(order)),
                "SET @daoxiang_order_id = LAST_INSERT_ID()",
                *(m(ITEM_INSERT.sql, ITEM_INSERT.params(item)) for item in items),
            ]
        await self.cursor.execute("; ".join(statements))
        order_id = int(self.cursor.lastrowid)
        if len(items) != 1:
            await self.cursor.nextset()
        item_ids = []
        for _ in items:
            await self.cursor.nextset()
            item_ids.append(int(self.cursor.lastrowid))
        return order_id, item_ids

    async def emit(self, row: dict[str, Any]) -> None:
        self._queue(OUTBOX_INSERT.sql, OUTBOX_INSERT.params(row))

    async def record_answer(self, body: dict[str, Any]) -> None:
        """Queued: when the queue is sent, take_stock raises KeyAlreadyStored if the row exists already, and
        KeyInUse if another transaction is inserting it."""
        if self.key is None:
            return
        at = utcnow()
        row = {
            "user_id": self.key.user_id,
            "key": self.key.key,
            "request_hash": self.key.body_hash,
            "response_status": 201,
            "response_body": _answer_text(body),
            "claimed_at": at,
            "created_at": at,
        }
        self._key_statement = len(self.queued)
        self._queue(self._key_sql, KEY_INSERT.params(row))

    async def find_coupon(self, user_id: int, code: str, sku_ids: Iterable[int]) -> CheckoutCoupon | None:
        """One round trip: the coupon and the SKUs it covers (asked before the customer's row is locked: the
        coupon is read again, conditionally, when it is used)."""
        ids = [int(sku_id) for sku_id in sku_ids]
        m = self.cursor.mogrify
        await self.cursor.execute(
            m(self.COUPON_SQL, (code, user_id))
            + "; "
            + m(self.COUPON_SKUS_SQL.format(", ".join(["%s"] * len(ids))), [*ids, code, user_id])
        )
        rows = await self.cursor.fetchall()
        await self.cursor.nextset()
        covered = [sku_id for (sku_id,) in await self.cursor.fetchall()]
        if not rows:
            return None
        row = rows[0]
        return _checkout_coupon(code, row, None if row[10] else covered)

    async def use_coupon(self, claim_id: int, order_id: int) -> bool:
        await self.cursor.execute(self.USE_COUPON_SQL, (order_id, _naive_utc(utcnow()), claim_id))
        return self.cursor.rowcount == 1

    async def remove_cart_lines(self, user_id: int, sku_ids: list[int]) -> None:
        self._queue(self.CART_DELETE_SQL.format(", ".join(["%s"] * len(sku_ids))), [user_id, *sku_ids])

    async def _send_queued_with(self, tail: list[str]) -> tuple[list[int], int | None]:
        """Send the queued writes, then `tail` (and, with commit_with_stock, the COMMIT), in one round trip.
        Returns the row counts of `tail`'s statements and None, or ([], i) when `tail[i]` failed a CHECK
        constraint (then the server stopped there: nothing committed, the caller rolls back). Raises
        KeyAlreadyStored or KeyInUse when the queued Idempotency-Key row is taken."""
        first = len(self.queued)
        statements = [*self.queued, *tail, *(["COMMIT"] if self.commit_with_stock else [])]
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
            if first <= answered < first + len(tail) and code in self.CHECK_FAILED:
                return [], answered - first
            raise
        if self.commit_with_stock:
            self.tx.committed = True
        return rowcounts[first : first + len(tail)], None

    async def take_stock(self, lines: list[tuple[int, int]]) -> list[int]:
        """Take every line's stock, sending the queued writes first, all in one round trip; with
        commit_with_stock the COMMIT goes too. Returns the SKUs short of stock (then nothing was taken and
        nothing committed: the caller rolls back). Raises KeyAlreadyStored or KeyInUse when the queued
        Idempotency-Key row is taken."""
        now = _naive_utc(utcnow())
        m = self.cursor.mogrify
        if self.commit_with_stock:
            stock = [m(self.STOCK_CHECKED_SQL, (qty, now, sku_id)) for sku_id, qty in lines]
        else:
            stock = [m(self.STOCK_SQL, (qty, now, sku_id, qty)) for sku_id, qty in lines]
        taken, failed = await self._send_queued_with(stock)
        if failed is not None:
            return await self._short_of(lines, lines[failed][0])
        if self.commit_with_stock:
            if any(n != 1 for n in taken):  # a SKU row vanished after it was read: SKUs are never deleted
                log.error("checkout committed without taking stock", extra={"lines": lines, "taken": taken})
            return []
        return [sku_id for (sku_id, _), n in zip(lines, taken, strict=True) if n != 1]

    async def check_key(self) -> None:
        """One indexed read (on MariaDB without waiting for a request that is inserting the key)."""
        if self.key is None:
            return
        sql = self.KEY_NOWAIT_SQL if self.nowait_keys else self.KEY_SQL
        try:
            await self.cursor.execute(sql, (self.key.user_id, self.key.key))
        except Exception as exc:
            if self.nowait_keys and error_code(exc) == 1205:
                raise KeyInUse from None
            raise
        if await self.cursor.fetchall():
            raise KeyAlreadyStored

    async def read_flash_sale(self, user_id: int, sale_id: int) -> SaleState | None:
        """The customer's row locked, then the sale and what the customer holds of it: one round trip."""
        m = self.cursor.mogrify
        statements = [
            m(self.LOCK_CUSTOMER_SQL, (user_id,)),
            m(self.FLASH_SALE_SQL, (sale_id,)),
            m(self.FLASH_HELD_SQL, (sale_id, user_id)),
        ]
        await self.cursor.execute("; ".join(statements))
        await self.cursor.fetchall()
        await self.cursor.nextset()
        sale = await self.cursor.fetchall()
        await self.cursor.nextset()
        ((held,),) = await self.cursor.fetchall()
        if not sale:
            return None
        sku_id, price_fen, remaining, limit, starts_at, ends_at, closed_at = sale[0]
        return SaleState(
            int(sku_id),
            int(price_fen),
            int(remaining),
            int(limit),
            _aware(starts_at),
            _aware(ends_at),
            _aware(closed_at) if closed_at is not None else None,
            int(held),
        )

    async def take_from_flash_sale(self, sale_id: int, quantity: int, purchase: dict[str, Any]) -> bool:
        """The purchase's row and the sale's UPDATE after the queued writes, in one round trip, with the
        COMMIT where the server enforces CHECK (remaining >= 0), which then stops a short sale's UPDATE."""
        insert = self.cursor.mogrify(PURCHASE_INSERT.sql, PURCHASE_INSERT.params(purchase))
        return await self._insert_and_take(
            insert, self.FLASH_TAKE_SQL, self.FLASH_TAKE_CHECKED_SQL, sale_id, quantity
        )

    async def take_from_presale(self, presale_id: int, quantity: int, share: dict[str, Any]) -> bool:
        """The share's row and the pre-sale's quota UPDATE after the queued writes, in one round trip, as
        take_from_flash_sale (CHECK (remaining >= 0) on presales)."""
        insert = self.cursor.mogrify(PRESALE_SHARE_INSERT.sql, PRESALE_SHARE_INSERT.params(share))
        return await self._insert_and_take(
            insert, self.PRESALE_TAKE_SQL, self.PRESALE_TAKE_CHECKED_SQL, presale_id, quantity
        )

    async def _insert_and_take(
        self, insert: str, take_sql: str, checked_sql: str, row_id: int, qty: int
    ) -> bool:
        m = self.cursor.mogrify
        now = _naive_utc(utcnow())
        take = (
            m(checked_sql, (qty, now, row_id))
            if self.commit_with_stock
            else m(take_sql, (qty, now, row_id, qty))
        )
        taken, failed = await self._send_queued_with([insert, take])
        if failed is not None:
            return False
        if self.commit_with_stock:
            if taken[1] != 1:  # a sale's row vanished after it was read: sales are never deleted
                log.error("order committed without taking units", extra={"row_id": row_id})
            return True
        return taken[1] == 1

    async def take_adoption_shares(self, plan_id: int, shares: int, adoption: dict[str, Any]) -> bool:
        """The adoption's row and the plan's UPDATE after the queued writes, in one round trip (as
        take_from_flash_sale), the COMMIT too where the server enforces CHECK (shares_left >= 0)."""
        m = self.cursor.mogrify
        now = _naive_utc(utcnow())
        take = (
            m(self.ADOPTION_TAKE_CHECKED_SQL, (shares, now, plan_id))
            if self.commit_with_stock
            else m(self.ADOPTION_TAKE_SQL, (shares, now, plan_id, shares))
        )
        insert = m(ADOPTION_INSERT.sql, ADOPTION_INSERT.params(adoption))
        taken, failed = await self._send_queued_with([insert, take])
        if failed is not None:
            return False
        if self.commit_with_stock:
            if taken[1] != 1:  # a plan row vanished after it was read: plans are never deleted
                log.error("adoption committed without taking shares", extra={"plan_id": plan_id})
            return True
        return taken[1] == 1

    async def _short_of(self, lines: list[tuple[int, int]], failed: int) -> list[int]:
        """The lines whose stock is short now (at least the one whose UPDATE failed its CHECK)."""
        ids = [sku_id for sku_id, _ in lines]
        await self.cursor.execute(
            f"SELECT id, stock FROM skus WHERE id IN ({', '.join(['%s'] * len(ids))})",  # noqa: S608
            ids,
        )
        stock = {int(sku_id): int(n) for sku_id, n in await self.cursor.fetchall()}
        return sorted({failed} | {sku_id for sku_id, qty in lines if stock.get(sku_id, 0) < qty})
